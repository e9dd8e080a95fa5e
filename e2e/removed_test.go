package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// removedInfo is a row of GET /admin/api/subscribers with the removed flag.
type removedInfo struct {
	subscriberInfo
	Removed bool `json:"removed"`
}

func (g *gateway) subscriberRow(t *testing.T, name string) (removedInfo, bool) {
	t.Helper()
	var rows []removedInfo
	g.adminGet(t, "/admin/api/subscribers", &rows)
	for _, r := range rows {
		if r.Name == name {
			return r, true
		}
	}
	return removedInfo{}, false
}

// A subscriber removed from the config while it holds work: listed with
// removed: true, resumed if the name comes back, and purgeable once gone.
func TestRemovedSubscriber(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		keep := newRecorder(t, "keep", 1)
		gone := newRecorder(t, "gone", 1)
		w.subscribe("keep", sub{rec: keep})
		w.subscribe("gone", sub{rec: gone})
		g := w.start()
		reload := func() {
			t.Helper()
			w.rewrite(g)
			if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code != http.StatusOK {
				t.Fatalf("reload: got %s, want 200", statusDetail(code, err))
			}
		}
		// 20 deliveries held for gone.
		sendHeld := func(prefix string) []string {
			t.Helper()
			if code, err := g.adminDo(http.MethodPost, "/admin/api/subscribers/gone/pause", nil); err != nil || code != http.StatusOK {
				t.Fatalf("pause gone: got %s, want 200", statusDetail(code, err))
			}
			var subjects []string
			for i := range 20 {
				g.mustAccept(product(fmt.Sprintf("%s%d", prefix, i), i))
				subjects = append(subjects, fmt.Sprintf("product/%s%d", prefix, i))
			}
			keep.waitSubjects(t, subjects, 30*time.Second)
			return subjects
		}
		subjects := sendHeld("R")
		goneCfg := w.subscribers["gone"]
		delete(w.subscribers, "gone")
		reload()

		row, ok := g.subscriberRow(t, "gone")
		if !ok || !row.Removed || row.Pending != 20 {
			t.Fatalf("gone after its removal: listed %v, removed %v, pending %d; want listed, removed, 20 pending", ok, row.Removed, row.Pending)
		}
		if row, _ := g.subscriberRow(t, "keep"); row.Removed {
			t.Errorf("keep is listed as removed")
		}
		if code, err := g.adminDo(http.MethodDelete, "/admin/api/subscribers/keep/deliveries", nil); err != nil || code != http.StatusConflict {
			t.Errorf("purge of a configured subscriber: got %s, want 409", statusDetail(code, err))
		}

		// The name comes back: its work resumes.
		w.subscribers["gone"] = goneCfg
		reload()
		if code, err := g.adminDo(http.MethodPost, "/admin/api/subscribers/gone/resume", nil); err != nil || code != http.StatusOK {
			t.Fatalf("resume gone: got %s, want 200", statusDetail(code, err))
		}
		gone.waitSubjects(t, subjects, 30*time.Second)

		// Removed again with 20 held, and purged.
		sendHeld("S")
		delete(w.subscribers, "gone")
		reload()
		var purged struct {
			Purged int `json:"purged"`
		}
		if code, err := g.adminDo(http.MethodDelete, "/admin/api/subscribers/gone/deliveries", &purged); err != nil || code != http.StatusOK || purged.Purged != 20 {
			t.Fatalf("purge of removed gone: got %s, purged %d; want 200, purged 20", statusDetail(code, err), purged.Purged)
		}
		if row, ok := g.subscriberRow(t, "gone"); ok {
			t.Errorf("gone still listed after the purge: %+v", row)
		}
		if n := gone.requestCount(); n != 20 {
			t.Errorf("gone got %d requests in all, want the 20 of its first life", n)
		}
	})
}

// With no admin token (loopback only), a web page the operator has open
// cannot drive the admin API: a cross-origin POST and a DNS-rebinding Host
// are refused with 403, while the operator's own requests go through.
func TestTokenlessAdminRefusesForeignOrigins(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.noToken = true
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	do := func(method, path string, header map[string]string, host string) int {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+g.admin+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		host   string
		want   int
	}{
		{"cross-origin pause", "POST", "/admin/api/subscribers/all/pause", map[string]string{"Origin": "https://evil.example"}, "", http.StatusForbidden},
		{"cross-origin reload", "POST", "/admin/api/reload", map[string]string{"Origin": "http://attacker.test:9090"}, "", http.StatusForbidden},
		{"null origin", "POST", "/admin/api/reload", map[string]string{"Origin": "null"}, "", http.StatusForbidden},
		{"rebinding host, read", "GET", "/admin/api/subscribers", nil, "evil.example:" + portOf(g.admin), http.StatusForbidden},
		{"rebinding host, write", "POST", "/admin/api/subscribers/all/pause", nil, "evil.example", http.StatusForbidden},
		{"operator's own read", "GET", "/admin/api/subscribers", nil, "", http.StatusOK},
		{"same-origin pause", "POST", "/admin/api/subscribers/all/pause", map[string]string{"Origin": "http://" + g.admin}, "", http.StatusOK},
		{"curl resume, no origin", "POST", "/admin/api/subscribers/all/resume", nil, "", http.StatusOK},
		{"localhost host", "GET", "/admin/api/status", nil, "localhost:" + portOf(g.admin), http.StatusOK},
	}
	for _, tc := range tests {
		if got := do(tc.method, tc.path, tc.header, tc.host); got != tc.want {
			t.Errorf("%s: %s %s got %d, want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}
	var st []subscriberInfo
	g.adminGet(t, "/admin/api/subscribers", &st)
	if len(st) != 1 || st[0].Paused {
		t.Errorf("after the refused and allowed requests: %+v, want all not paused", st)
	}
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return ""
}
