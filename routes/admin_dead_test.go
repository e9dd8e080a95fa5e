package routes_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// answering is a subscriber that answers every request with status.
func answering(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook"
}

// deadItem is what the tests read of a GET /admin/api/dead entry.
type deadItem struct {
	EventID    string `json:"event_id"`
	Subscriber string `json:"subscriber"`
	Type       string `json:"type"`
	Subject    string `json:"subject"`
	DeadReason string `json:"dead_reason"`
}

// GET /admin/api/dead says what died and why: the event's type and
// subject, the dead reason; ?reason= filters by it, with ?subscriber= and
// ?limit=; an unknown reason is a 400 naming the valid ones. The event
// detail shows each delivery's dead_reason.
func TestAdminDeadReason(t *testing.T) {
	sub := func(name, url, extra string) string {
		return "  " + name + ":\n    url: \"" + url + "\"\n    secret: \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\n    events: [\"iimmpact.product.*\"]\n" + extra
	}
	e := newAdminEnv(t, adminEnv{token: adminToken, subscribers: sub("strict", answering(t, http.StatusUnauthorized), "") +
		sub("moved", answering(t, http.StatusGone), "") +
		sub("flaky", answering(t, http.StatusServiceUnavailable), "    retry: {max_attempts: 2, initial_backoff: 1ms, max_backoff: 2ms}\n")})
	var ids []string
	for _, p := range []string{"CELCOM10", "DIGI5"} {
		if got, body := do(t, e.public, webhook("shop", product(p), shopSecret)); got != 200 {
			t.Fatalf("POST = %d %s", got, body)
		}
	}
	e.sub.wait(t)
	ids = e.sub.received()

	get := func(path string, v any) {
		t.Helper()
		got, body := do(t, e.admin, adminReq(http.MethodGet, path, adminToken))
		if got != 200 {
			t.Fatalf("GET %s = %d %s", path, got, body)
		}
		decode(t, body, v)
	}
	var all []deadItem
	resumed := false
	for deadline := time.Now().Add(time.Minute); len(all) < 6; {
		if time.Now().After(deadline) {
			t.Fatalf("dead deliveries = %+v after a minute, want 6", all)
		}
		time.Sleep(10 * time.Millisecond)
		all = nil
		get("/admin/api/dead", &all)
		// A 410 pauses moved (before its attempt is recorded): resumed,
		// it takes the other event, if it has not already.
		for _, d := range all {
			if d.Subscriber == "moved" && !resumed {
				if got, body := do(t, e.admin, adminReq(http.MethodPost, "/admin/api/subscribers/moved/resume", adminToken)); got != 200 {
					t.Fatalf("resume moved = %d %s", got, body)
				}
				resumed = true
			}
		}
	}
	want := map[string]string{"strict": "permanent", "moved": "gone", "flaky": "attempts"}
	for _, d := range all {
		if d.DeadReason != want[d.Subscriber] || d.Type != "iimmpact.product.updated" ||
			(d.Subject != "product/CELCOM10" && d.Subject != "product/DIGI5") {
			t.Errorf("dead entry %+v; want reason %q, type iimmpact.product.updated, its subject", d, want[d.Subscriber])
		}
	}

	tests := []struct {
		query string
		want  map[string]int // subscriber -> entries
	}{
		{"?reason=permanent", map[string]int{"strict": 2}},
		{"?reason=gone", map[string]int{"moved": 2}},
		{"?reason=attempts&subscriber=flaky", map[string]int{"flaky": 2}},
		{"?reason=attempts&subscriber=strict", map[string]int{}},
		{"?reason=permanent&limit=1", map[string]int{"strict": 1}},
		{"?reason=max_age", map[string]int{}},
		{"?reason=transform", map[string]int{}},
	}
	for _, tc := range tests {
		var got []deadItem
		get("/admin/api/dead"+tc.query, &got)
		count := map[string]int{}
		for _, d := range got {
			count[d.Subscriber]++
		}
		if len(count) != len(tc.want) {
			t.Errorf("dead%s = %+v, want %v", tc.query, got, tc.want)
		}
		for s, n := range tc.want {
			if count[s] != n {
				t.Errorf("dead%s = %+v, want %v", tc.query, got, tc.want)
			}
		}
	}
	for _, q := range []string{"?reason=teapot", "?reason=PERMANENT", "?reason=unknown&subscriber=strict"} {
		got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/dead"+q, adminToken))
		if got != 400 || !strings.Contains(string(body), "permanent, attempts, max_age, gone, transform") {
			t.Errorf("dead%s = %d %s, want 400 naming the valid reasons", q, got, body)
		}
	}

	var ev struct {
		Deliveries []struct {
			Subscriber string
			Status     string
			DeadReason *string `json:"dead_reason"`
		}
	}
	get("/admin/api/events/"+ids[0], &ev)
	if len(ev.Deliveries) != 4 {
		t.Fatalf("event deliveries = %+v, want 4", ev.Deliveries)
	}
	for _, d := range ev.Deliveries {
		w := want[d.Subscriber] // "" for indexer, delivered
		if d.DeadReason == nil || *d.DeadReason != w {
			t.Errorf("event delivery %s (%s): dead_reason %v, want %q", d.Subscriber, d.Status, d.DeadReason, w)
		}
	}
}

// A delivery that died before reasons were recorded reads back as
// dead_reason "unknown", and no ?reason= lists it.
func TestAdminDeadReasonUnknown(t *testing.T) {
	e := newAdminEnv(t, adminEnv{token: adminToken})
	ctx := context.Background()
	now := time.Now()
	env := gateway.Envelope{SpecVersion: gateway.SpecVersion, ID: "evt_old", Source: "shop", Type: "iimmpact.product.updated",
		Subject: "product/OLD", Time: now}
	if _, err := e.store.Put(ctx, []gateway.NewEvent{{Envelope: env, Body: []byte(`{"id":"evt_old"}`), ReceivedAt: now,
		Subscribers: []string{"retired"}}}); err != nil {
		t.Fatal(err)
	}
	cs, err := e.store.Claim(ctx, "retired", now, 1, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %v, %v", cs, err)
	}
	if err := e.store.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDead,
		Attempt: gateway.Attempt{At: now, StatusCode: 400, Error: "HTTP 400"}}); err != nil {
		t.Fatal(err)
	}
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/dead?subscriber=retired", adminToken))
	var dead []deadItem
	decode(t, body, &dead)
	if got != 200 || len(dead) != 1 || dead[0].DeadReason != "unknown" || dead[0].Subject != "product/OLD" {
		t.Errorf("dead = %d %s, want evt_old with dead_reason unknown", got, body)
	}
	for _, r := range gateway.DeadReasons() {
		got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/dead?subscriber=retired&reason="+string(r), adminToken))
		if got != 200 || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("dead?reason=%s = %d %s, want 200 []", r, got, body)
		}
	}
}
