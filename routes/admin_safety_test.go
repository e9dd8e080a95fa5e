package routes_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminLimit: limit is a whole number from 1 to 500; anything else is
// a 400 with a reason, never a 500 and never a silently shorter page.
func TestAdminLimit(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		limit string
		want  int
	}{
		{"1", 200},
		{"500", 200},
		{"501", 400},
		{"100000", 400},
		{"99999999999999999999999999", 400},
		{"0", 400},
		{"-1", 400},
		{"abc", 400},
		{"1e9", 400},
		{"1.5", 400},
		{"0x10", 400},
		{"%20", 400},
	}
	for _, path := range []string{"/admin/api/events", "/admin/api/dead"} {
		for _, tt := range tests {
			url := path + "?limit=" + tt.limit
			got, body := do(t, e.admin, adminReq(http.MethodGet, url, adminToken))
			if got != tt.want {
				t.Errorf("GET %s = %d %s, want %d", url, got, body, tt.want)
			}
			if tt.want == 400 && !strings.Contains(string(body), "limit") {
				t.Errorf("GET %s: body %s does not say what is wrong", url, body)
			}
		}
	}
}

// TestAdminLoopbackGuard: without a token, requests addressed to anything
// but a loopback name are refused (DNS rebinding), and so are changes
// carrying another origin than the listener's own.
func TestAdminLoopbackGuard(t *testing.T) {
	e := newAdminEnv(t, adminEnv{})
	const (
		list  = "/admin/api/subscribers"
		pause = "/admin/api/subscribers/indexer/pause"
		purge = "/admin/api/subscribers/indexer/deliveries" // 409: configured
		self  = "127.0.0.1:9090"
	)
	tests := []struct {
		name, method, path, host, origin string
		header                           [2]string // one more header, if set
		want                             int
	}{
		{"ipv4 loopback", "GET", list, self, "", [2]string{}, 200},
		{"localhost", "GET", list, "localhost:9090", "", [2]string{}, 200},
		{"localhost any case, no port", "GET", list, "LocalHost", "", [2]string{}, 200},
		{"all of 127/8", "GET", list, "127.8.9.10:9090", "", [2]string{}, 200},
		{"ipv6 loopback", "GET", list, "[::1]:9090", "", [2]string{}, 200},
		{"ipv6 loopback, no port", "GET", list, "[::1]", "", [2]string{}, 200},
		{"rebound name", "GET", list, "evil.example:9090", "", [2]string{}, 403},
		{"rebound name, no port", "GET", list, "evil.example", "", [2]string{}, 403},
		{"loopback-looking name", "GET", list, "127.0.0.1.evil.example", "", [2]string{}, 403},
		{"localhost subdomain of another", "GET", list, "localhost.evil.example:9090", "", [2]string{}, 403},
		{"not loopback address", "GET", list, "10.0.0.1:9090", "", [2]string{}, 403},
		{"X-Forwarded-Host is not the Host", "GET", list, "evil.example", "", [2]string{"X-Forwarded-Host", "localhost"}, 403},
		{"dashboard rebound", "GET", "/admin/", "evil.example", "", [2]string{}, 403},
		{"metrics rebound", "GET", "/metrics", "evil.example", "", [2]string{}, 403},
		{"change from the dashboard", "POST", pause, self, "http://" + self, [2]string{}, 200},
		{"change from the dashboard, localhost", "POST", pause, "localhost:9090", "http://localhost:9090", [2]string{}, 200},
		{"change without Origin (curl)", "POST", pause, self, "", [2]string{}, 200},
		{"default port either way", "POST", pause, "127.0.0.1", "http://127.0.0.1:80", [2]string{}, 200},
		{"change from another site", "POST", pause, self, "http://evil.example", [2]string{}, 403},
		{"change from another local port", "POST", pause, self, "http://127.0.0.1:8080", [2]string{}, 403},
		{"change from another loopback name", "POST", pause, self, "http://localhost:9090", [2]string{}, 403},
		{"change from another scheme", "POST", pause, self, "https://" + self, [2]string{}, 403},
		{"change from a sandboxed page", "POST", pause, self, "null", [2]string{}, 403},
		{"DELETE from another site", "DELETE", purge, self, "http://evil.example", [2]string{}, 403},
		{"DELETE from the dashboard", "DELETE", purge, self, "http://" + self, [2]string{}, 409},
		{"read from another site", "GET", list, self, "http://evil.example", [2]string{}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := localReq(tt.method, tt.path, tt.host, tt.origin)
			if tt.header[0] != "" {
				req.Header.Set(tt.header[0], tt.header[1])
			}
			if got, body := do(t, e.admin, req); got != tt.want {
				t.Errorf("%s %s (Host %s, Origin %q) = %d %s, want %d",
					tt.method, tt.path, tt.host, tt.origin, got, body, tt.want)
			}
		})
	}
}

// TestAdminTokenGuardStands: with a token set, the bearer check decides;
// the loopback rules do not apply (the listener may be on any address).
func TestAdminTokenGuardStands(t *testing.T) {
	e := newAdminEnv(t, adminEnv{token: adminToken})
	req := adminReq(http.MethodPost, "/admin/api/subscribers/indexer/pause", adminToken)
	req.Host = "gateway.internal:9090"
	req.Header.Set("Origin", "http://gateway.internal:9090")
	if got, body := do(t, e.admin, req); got != 200 {
		t.Errorf("POST with bearer from a non-loopback name = %d %s, want 200", got, body)
	}
	req = localReq(http.MethodGet, "/admin/api/subscribers", "127.0.0.1:9090", "")
	if got, _ := do(t, e.admin, req); got != 401 {
		t.Errorf("GET on loopback without the token = %d, want 401", got)
	}
}

// TestDashboardOnLoopback: a browser on this machine opens the dashboard
// and its fetches change state, over a real listener without a token.
func TestDashboardOnLoopback(t *testing.T) {
	e := newAdminEnv(t, adminEnv{})
	base := listen(t, e.admin)
	resp, err := http.Get(base + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/ = %d, want 200", resp.StatusCode)
	}
	// What the dashboard's fetch sends: its own origin, the custom header.
	req, err := http.NewRequest(http.MethodPost, base+"/admin/api/subscribers/indexer/pause", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", base)
	req.Header.Set("X-Hookgate-Dashboard", "1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("dashboard POST = %d %s, want 200", resp.StatusCode, body)
	}
}

// TestAdminRedactsURLs: no secret of a subscriber URL reaches a response.
func TestAdminRedactsURLs(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://hooks.example/in", "https://hooks.example/in"},
		{"https://ops:hunter2@hooks.example/in", "https://redacted@hooks.example/in"},
		{"https://sk_live_hunter2@hooks.example/in", "https://redacted@hooks.example/in"},
		{"https://hooks.example/in?token=hunter2", "https://hooks.example/in?token=redacted"},
		{"https://hooks.example/in?a=hunter2&b=&hunter2", "https://hooks.example/in?a=redacted&b=redacted&redacted"},
		{"https://hooks.example:8443/in?sig=hunter2#hunter2", "https://hooks.example:8443/in?sig=redacted"},
		{"http://u:hunter2@10.0.0.1:8000/p/q?x=hunter2&y=hunter2", "http://redacted@10.0.0.1:8000/p/q?x=redacted&y=redacted"},
		{"https://hooks.slack.example/services/T0001/B0001/hunter2hunter2hunter2XY", "https://hooks.slack.example/services/T0001/B0001/redacted"},
		{"https://discord.example/api/webhooks/1234/hunter2-AbC_dEf-9", "https://discord.example/api/webhooks/1234/redacted"},
		{"https://hooks.example/catalog/search-indexer-production", "https://hooks.example/catalog/search-indexer-production"},
	}
	var yaml strings.Builder
	for i, tt := range tests {
		fmt.Fprintf(&yaml, "  r%d:\n    url: %q\n    secret: \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\n    events: [\"never.*\"]\n", i, tt.url)
	}
	e := newAdminEnv(t, adminEnv{token: adminToken, subscribers: yaml.String()})
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/subscribers", adminToken))
	if got != 200 {
		t.Fatalf("GET subscribers = %d %s", got, body)
	}
	if strings.Contains(string(body), "hunter2") {
		t.Errorf("a secret is in the response: %s", body)
	}
	var rows []struct{ Name, URL string }
	decode(t, body, &rows)
	urls := map[string]string{}
	for _, r := range rows {
		urls[r.Name] = r.URL
	}
	for i, tt := range tests {
		if got := urls[fmt.Sprintf("r%d", i)]; got != tt.want {
			t.Errorf("url of %s shown as %q, want %q", tt.url, got, tt.want)
		}
	}
}
