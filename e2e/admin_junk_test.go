package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every admin endpoint, fed junk: a clear 4xx (or a 2xx where the junk is
// harmless), never a 5xx or a crash, and the gateway serves on after.
func TestAdminJunkParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		r := newRecorder(t, "all", 1)
		w.subscribe("all", sub{rec: r})
		g := w.start()
		g.mustAccept(product("JUNK", 1))
		r.waitSubjects(t, []string{"product/JUNK"}, 30*time.Second)

		long := strings.Repeat("a", 3000)
		tests := []struct {
			method, path string
			want         int // 0: any 2xx or 4xx
		}{
			{"GET", "/admin/api/events?limit=100000", http.StatusBadRequest},
			{"GET", "/admin/api/events?limit=501", http.StatusBadRequest},
			{"GET", "/admin/api/events?limit=abc", http.StatusBadRequest},
			{"GET", "/admin/api/events?limit=-1", http.StatusBadRequest},
			{"GET", "/admin/api/events?limit=0", 0},
			{"GET", "/admin/api/events?limit=99999999999999999999999", http.StatusBadRequest},
			{"GET", "/admin/api/events?limit=1e3", http.StatusBadRequest},
			{"GET", "/admin/api/events?limit=500", http.StatusOK},
			{"GET", "/admin/api/events?cursor=%00%ff", http.StatusBadRequest},
			{"GET", "/admin/api/events?cursor=" + long, 0},
			{"GET", "/admin/api/events?cursor=MTox", 0},
			{"GET", "/admin/api/events?status=bogus", http.StatusBadRequest},
			{"GET", "/admin/api/events?q=" + long, http.StatusBadRequest},
			{"GET", "/admin/api/events?q=" + strings.Repeat("(", 5000), http.StatusBadRequest},
			{"GET", "/admin/api/events?q=event.type%00", http.StatusBadRequest},
			{"GET", "/admin/api/events?q=event.data.object.a.b.c%20%3E%201", http.StatusOK},
			{"GET", "/admin/api/events?q=event.data.object.tags.exists(t,%20t.matches(%22(a%2B)%2B$%22))", http.StatusOK},
			{"GET", "/admin/api/events?type=%00&source=" + long + "&subscriber=%2F..%2F", 0},
			{"GET", "/admin/api/events/" + long, http.StatusNotFound},
			{"GET", "/admin/api/events/%00", http.StatusNotFound},
			{"GET", "/admin/api/events/..%2F..%2Fetc%2Fpasswd", http.StatusNotFound},
			{"POST", "/admin/api/events/nosuch/redeliver", http.StatusNotFound},
			{"POST", "/admin/api/events/nosuch/redeliver?subscriber=" + long, http.StatusNotFound},
			{"GET", "/admin/api/dead?limit=100000000", http.StatusBadRequest},
			{"GET", "/admin/api/dead?subscriber=%00", http.StatusNotFound},
			{"GET", "/admin/api/dead?limit=x", http.StatusBadRequest},
			{"GET", "/admin/api/dead?reason=%00", http.StatusBadRequest},
			{"GET", "/admin/api/dead?reason=" + long, http.StatusBadRequest},
			{"GET", "/admin/api/dead?reason=gone%00", http.StatusBadRequest},
			{"POST", "/admin/api/subscribers/" + long + "/redeliver-dead", http.StatusNotFound},
			{"POST", "/admin/api/subscribers/%00/pause", http.StatusNotFound},
			{"POST", "/admin/api/subscribers/nosuch/resume", http.StatusNotFound},
			{"DELETE", "/admin/api/subscribers/all/deliveries", http.StatusConflict},
			{"DELETE", "/admin/api/subscribers/" + long + "/deliveries", 0},
			{"GET", "/admin/api/status?verbose=%ff", http.StatusOK},
			{"PUT", "/admin/api/reload", 0},
			{"GET", "/admin/api/nosuch", http.StatusNotFound},
		}
		for _, tc := range tests {
			req, err := http.NewRequest(tc.method, "http://"+g.admin+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+g.token)
			resp, err := admin.Do(req)
			if err != nil {
				t.Fatalf("%s %.60s: %v", tc.method, tc.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code := resp.StatusCode
			switch {
			case tc.want != 0 && code != tc.want:
				t.Errorf("%s %.80s: got %d %.100s, want %d", tc.method, tc.path, code, body, tc.want)
			case code >= 500:
				t.Errorf("%s %.80s: got %d %.100s, want no 5xx", tc.method, tc.path, code, body)
			case code >= 400 && code != http.StatusNotFound && code != http.StatusMethodNotAllowed:
				var e struct {
					Error string `json:"error"`
				}
				if json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Errorf("%s %.80s: %d with body %.100q, want {\"error\": reason}", tc.method, tc.path, code, body)
				}
			}
		}
		g.mustAccept(product("JUNK-AFTER", 2))
		r.waitSubjects(t, []string{"product/JUNK-AFTER"}, 30*time.Second)
	})
}
