package routes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
)

// putFor stores n events with a delivery to each of subs, straight into
// the store, as an earlier config's ingest would have.
func putFor(t *testing.T, s gateway.Store, n int, subs ...string) {
	t.Helper()
	now := time.Now()
	evs := make([]gateway.NewEvent, n)
	for i := range evs {
		env := gateway.NewEnvelope("shop", gateway.Event{
			Identity: fmt.Sprintf("%s-%d-%d", t.Name(), now.UnixNano(), i),
			Type:     "iimmpact.product.updated",
			Subject:  fmt.Sprintf("product/%d", i),
			Object:   json.RawMessage(`{}`),
		}, now)
		body, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		evs[i] = gateway.NewEvent{Envelope: env, Body: body, ReceivedAt: now, Subscribers: subs}
	}
	if _, err := s.Put(context.Background(), evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// killOne makes one of sub's due deliveries dead, as a 410 would.
func killOne(t *testing.T, s gateway.Store, sub string) {
	t.Helper()
	ctx, now := context.Background(), time.Now()
	cs, err := s.Claim(ctx, sub, now, 1, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim(%s) = %d claims, %v; want 1", sub, len(cs), err)
	}
	o := gateway.Outcome{Attempt: gateway.Attempt{At: now, StatusCode: 410, Error: "HTTP 410"}, Status: gateway.StatusDead}
	if err := s.Record(ctx, cs[0], o); err != nil {
		t.Fatal(err)
	}
}

type subscriberRow struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Breaker string `json:"breaker"`
	Removed *bool  `json:"removed"`
	Pending int64  `json:"pending"`
	Dead    int64  `json:"dead"`
}

func listSubscribers(t *testing.T, e *env) map[string]subscriberRow {
	t.Helper()
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/subscribers", adminToken))
	if got != 200 {
		t.Fatalf("GET subscribers = %d %s", got, body)
	}
	var rows []subscriberRow
	decode(t, body, &rows)
	out := map[string]subscriberRow{}
	for _, r := range rows {
		if r.Removed == nil {
			t.Errorf("%s has no removed field: %s", r.Name, body)
		}
		out[r.Name] = r
	}
	return out
}

// TestAdminRemovedSubscribers: a subscriber that left the config but has
// work in the store is listed as removed, counted in metrics, its dead
// listed and redelivered, and its deliveries purged, which a configured
// subscriber's are not.
func TestAdminRemovedSubscribers(t *testing.T) {
	e := newEnv(t)
	putFor(t, e.store, 2, "gone")
	killOne(t, e.store, "gone")

	rows := listSubscribers(t, e)
	if r := rows["indexer"]; r.Removed == nil || *r.Removed {
		t.Errorf("indexer = %+v, want removed false", r)
	}
	r, ok := rows["gone"]
	if !ok || r.Removed == nil || !*r.Removed || r.Pending != 1 || r.Dead != 1 || r.URL != "" {
		t.Errorf("gone = %+v (listed %v), want removed, 1 pending, 1 dead, no url", r, ok)
	}

	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/dead?subscriber=gone", adminToken))
	var dead []struct {
		Subscriber string `json:"subscriber"`
		Status     string `json:"status"`
	}
	if got != 200 {
		t.Fatalf("GET dead?subscriber=gone = %d %s", got, body)
	}
	decode(t, body, &dead)
	if len(dead) != 1 || dead[0].Subscriber != "gone" || dead[0].Status != "dead" {
		t.Errorf("dead of gone = %s, want its one dead delivery", body)
	}
	got, body = do(t, e.admin, adminReq(http.MethodGet, "/admin/api/dead", adminToken))
	dead = nil
	decode(t, body, &dead)
	if got != 200 || len(dead) != 1 {
		t.Errorf("GET dead = %d %s, want the removed subscriber's one", got, body)
	}

	metrics := metricsText(t, e)
	if miss := missingLines(metrics,
		`hookgate_subscriber_removed{subscriber="gone"} 1`,
		`hookgate_subscriber_removed{subscriber="indexer"} 0`,
		`hookgate_subscriber_pending{subscriber="gone"} 1`,
		`hookgate_subscriber_dead{subscriber="gone"} 1`,
	); len(miss) > 0 {
		t.Errorf("metrics lack %q:\n%s", miss, metrics)
	}

	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"DELETE", "/admin/api/subscribers/indexer/deliveries", 409},
		{"DELETE", "/admin/api/subscribers/nobody/deliveries", 404},
		{"GET", "/admin/api/dead?subscriber=nobody", 404},
		{"POST", "/admin/api/subscribers/nobody/redeliver-dead", 404},
	} {
		if got, body := do(t, e.admin, adminReq(tt.method, tt.path, adminToken)); got != tt.want {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, got, body, tt.want)
		}
	}

	got, body = do(t, e.admin, adminReq(http.MethodPost, "/admin/api/subscribers/gone/redeliver-dead", adminToken))
	if got != 202 || string(body) != `{"queued":1}` {
		t.Errorf("redeliver-dead gone = %d %s, want 202 {\"queued\":1}", got, body)
	}
	if r := listSubscribers(t, e)["gone"]; r.Pending != 2 || r.Dead != 0 {
		t.Errorf("after redeliver-dead gone = %+v, want 2 pending, 0 dead", r)
	}

	got, body = do(t, e.admin, adminReq(http.MethodDelete, "/admin/api/subscribers/gone/deliveries", adminToken))
	if got != 200 || string(body) != `{"purged":2}` {
		t.Errorf("DELETE gone's deliveries = %d %s, want 200 {\"purged\":2}", got, body)
	}
	if rows := listSubscribers(t, e); len(rows) != 1 {
		t.Errorf("after the purge subscribers = %v, want indexer alone", rows)
	}
	if got, body := do(t, e.admin, adminReq(http.MethodDelete, "/admin/api/subscribers/gone/deliveries", adminToken)); got != 404 {
		t.Errorf("DELETE again = %d %s, want 404: nothing of gone is left", got, body)
	}
}

// TestAdminStatusStoreHealth: a store that reports its health has its
// warnings, orphans and corrupt records in the status and the metrics;
// one that does not has neither.
func TestAdminStatusStoreHealth(t *testing.T) {
	health := gateway.StoreHealth{Warnings: []string{"appendonly is off: a restart loses events"}, Orphans: 3, Corrupt: 2}
	e := newAdminEnv(t, adminEnv{
		token: adminToken,
		wrap:  func(s gateway.Store) gateway.Store { return healthStore{s, health} },
	})
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/status", adminToken))
	if got != 200 {
		t.Fatalf("status = %d %s", got, body)
	}
	var st struct {
		Store struct {
			OK       bool      `json:"ok"`
			Warnings *[]string `json:"warnings"`
			Orphans  *int64    `json:"orphans"`
			Corrupt  *int64    `json:"corrupt"`
		} `json:"store"`
	}
	decode(t, body, &st)
	if !st.Store.OK || st.Store.Warnings == nil || len(*st.Store.Warnings) != 1 ||
		(*st.Store.Warnings)[0] != health.Warnings[0] || st.Store.Orphans == nil || *st.Store.Orphans != 3 ||
		st.Store.Corrupt == nil || *st.Store.Corrupt != 2 {
		t.Errorf("status = %s, want the store's warning, 3 orphans and 2 corrupt records", body)
	}
	metrics := metricsText(t, e)
	if miss := missingLines(metrics, `hookgate_store_warnings 1`, `hookgate_store_orphans_total 3`,
		`hookgate_store_corrupt_records 2`); len(miss) > 0 {
		t.Errorf("metrics lack %q:\n%s", miss, metrics)
	}

	plain := newAdminEnv(t, adminEnv{
		token: adminToken,
		wrap:  func(s gateway.Store) gateway.Store { return struct{ gateway.Store }{s} }, // hides any Health
	})
	_, body = do(t, plain.admin, adminReq(http.MethodGet, "/admin/api/status", adminToken))
	var raw struct {
		Store map[string]any `json:"store"`
	}
	decode(t, body, &raw)
	if _, ok := raw.Store["warnings"]; ok {
		t.Errorf("status of a store without health = %s, want no warnings", body)
	}
}

// TestAdminPauseStopsLocalClaims: once pause has answered, this process's
// engine claims nothing more for the subscriber (at most the one claim
// already under way), though its cached read of the flag would stand for
// an hour; resume releases the work at once.
func TestAdminPauseStopsLocalClaims(t *testing.T) {
	counter := &claimCounter{sub: "indexer"}
	e := newAdminEnv(t, adminEnv{
		token:  adminToken,
		engine: deliver.Options{PollInterval: 10 * time.Millisecond, PausedFor: time.Hour},
		wrap: func(s gateway.Store) gateway.Store {
			counter.Store = s
			return counter
		},
	})
	if got, body := do(t, e.public, webhook("shop", product("A"), shopSecret)); got != 200 {
		t.Fatalf("POST = %d %s", got, body)
	}
	e.sub.wait(t) // the engine has read "not paused", to be trusted for an hour

	if got, body := do(t, e.admin, adminReq(http.MethodPost, "/admin/api/subscribers/indexer/pause", adminToken)); got != 200 {
		t.Fatalf("pause = %d %s", got, body)
	}
	before := counter.claims.Load()
	if got, body := do(t, e.public, webhook("shop", product("B"), shopSecret)); got != 200 { // wakes the engine
		t.Fatalf("POST = %d %s", got, body)
	}
	time.Sleep(50 * 10 * time.Millisecond) // fifty polls; not an assertion on time
	if n := counter.claims.Load() - before; n > 1 {
		t.Errorf("%d claims for the paused subscriber after pause answered, want at most the one under way", n)
	}
	if n := len(e.sub.received()); n != 1 {
		t.Errorf("subscriber got %d requests, want only the one before the pause", n)
	}

	if got, body := do(t, e.admin, adminReq(http.MethodPost, "/admin/api/subscribers/indexer/resume", adminToken)); got != 200 {
		t.Fatalf("resume = %d %s", got, body)
	}
	e.sub.wait(t)
}
