package routes_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/routes"
)

// replayReq is POST /admin/api/subscribers/{name}/replay with body.
func replayReq(name, body, token string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/admin/api/subscribers/"+name+"/replay", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// ingestAndDeliver posts one product event per id and waits until the
// indexer has received each.
func ingestAndDeliver(t *testing.T, e *env, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if got, body := do(t, e.public, webhook("shop", product(id), shopSecret)); got != 200 {
			t.Fatalf("ingest %s = %d %s", id, got, body)
		}
		e.sub.wait(t)
	}
	settled(t, e)
}

// settled waits until the indexer has nothing pending: every delivery it
// received is recorded delivered (the request arrives before the record).
func settled(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := e.store.Stats(context.Background(), "indexer")
		if err == nil && st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexer still has deliveries pending after a minute (%+v, %v)", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplayAnswers: every refusal is answered before anything is queued,
// with the status errors.go gives it; a window that matches nothing is a
// 202 with nothing queued.
func TestReplayAnswers(t *testing.T) {
	e := newEnv(t)
	putFor(t, e.store, 1, "gone") // a removed subscriber: work in the store, not in the config
	now := time.Now().UTC()
	rfc := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	tests := []struct {
		name, sub, body, token string
		want                   int
		wantText               string
	}{
		{"no token", "indexer", `{"since":"` + rfc(-time.Hour) + `"}`, "", 401, ""},
		{"unknown subscriber", "nobody", `{"since":"` + rfc(-time.Hour) + `"}`, adminToken, 404, "unknown subscriber"},
		{"removed subscriber", "gone", `{"since":"` + rfc(-time.Hour) + `"}`, adminToken, 404, "unknown subscriber"},
		{"no body", "indexer", "", adminToken, 400, "body"},
		{"not JSON", "indexer", `since=yesterday`, adminToken, 400, "body"},
		{"unknown field", "indexer", `{"since":"` + rfc(-time.Hour) + `","from":"x"}`, adminToken, 400, "unknown field"},
		{"two objects", "indexer", `{"since":"` + rfc(-time.Hour) + `"} {}`, adminToken, 400, "data after"},
		{"no since", "indexer", `{"types":["**"]}`, adminToken, 400, "since: required"},
		{"since not RFC 3339", "indexer", `{"since":"yesterday"}`, adminToken, 400, "body"},
		{"since after until", "indexer", `{"since":"` + rfc(-time.Hour) + `","until":"` + rfc(-2*time.Hour) + `"}`, adminToken, 400, "since must be before until"},
		{"since equal to until", "indexer", `{"since":"` + rfc(-time.Hour) + `","until":"` + rfc(-time.Hour) + `"}`, adminToken, 400, "since must be before until"},
		{"window past retention", "indexer", `{"since":"` + rfc(-200*time.Hour) + `"}`, adminToken, 400, "store.retention"},
		{"bad pattern", "indexer", `{"since":"` + rfc(-time.Hour) + `","types":["iimmpact..x"]}`, adminToken, 400, "types[0]"},
		{"empty source", "indexer", `{"since":"` + rfc(-time.Hour) + `","sources":[""]}`, adminToken, 400, "sources[0]"},
		{"nothing in the window", "indexer", `{"since":"` + rfc(-3*time.Hour) + `","until":"` + rfc(-2*time.Hour) + `"}`, adminToken, 202, `{"queued":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, body := do(t, e.admin, replayReq(tc.sub, tc.body, tc.token))
			if got != tc.want || !strings.Contains(string(body), tc.wantText) {
				t.Errorf("replay = %d %s, want %d with %q", got, body, tc.want, tc.wantText)
			}
		})
	}
}

// TestReplayResends: a replay sends again, with the same ids, exactly the
// delivered events received in the window that the subscriber's routing
// accepts and types and sources leave in.
func TestReplayResends(t *testing.T) {
	e := newEnv(t)
	ingestAndDeliver(t, e, "P1", "P2")
	mid := time.Now().UTC()
	time.Sleep(2 * time.Millisecond) // P3 and P4 are received after mid, whatever the clock's grain
	ingestAndDeliver(t, e, "P3", "P4")
	first := e.sub.received()
	if len(first) != 4 {
		t.Fatalf("indexer received %d, want 4", len(first))
	}

	tests := []struct {
		name string
		body string
		want []string // ids sent again
	}{
		{"types leaving nothing", `{"since":"` + mid.Format(time.RFC3339Nano) + `","types":["iimmpact.product.deleted"]}`, nil},
		{"sources leaving nothing", `{"since":"` + mid.Format(time.RFC3339Nano) + `","sources":["elsewhere"]}`, nil},
		{"the second half", `{"since":"` + mid.Format(time.RFC3339Nano) + `","types":["iimmpact.**"],"sources":["shop"]}`, first[2:]},
		{"the first half", `{"since":"` + mid.Add(-time.Hour).Format(time.RFC3339Nano) + `","until":"` + mid.Format(time.RFC3339Nano) + `"}`, first[:2]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.sub.received())
			got, body := do(t, e.admin, replayReq("indexer", tc.body, adminToken))
			var res struct{ Queued int }
			decode(t, body, &res)
			if got != 202 || res.Queued != len(tc.want) {
				t.Fatalf("replay = %d %s, want 202 queued %d", got, body, len(tc.want))
			}
			for range tc.want {
				e.sub.wait(t)
			}
			settled(t, e)
			// Sent concurrently (max_in_flight), so compared as sets; the
			// e2e tests check the order with one in flight.
			again := e.sub.received()[before:]
			slices.Sort(again)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(again, want) {
				t.Errorf("sent again %v, want %v (the same ids)", again, want)
			}
		})
	}
}

// fakeBackfills reports fixed progress.
type fakeBackfills map[string]routes.BackfillProgress

func (f fakeBackfills) Backfill(name string) (routes.BackfillProgress, bool) {
	p, ok := f[name]
	return p, ok
}

// TestBackfillShown: a subscriber's backfill in this process is in its
// row and in hookgate_backfill_queued_total; one without has neither a
// backfill field nor anything but 0.
func TestBackfillShown(t *testing.T) {
	cfg := testConfig(t, "routes-test.yaml", `
admin: {token: "`+adminToken+`"}
sources:
  shop: {provider: iimmpact, secrets: ["`+shopSecret+`"]}
subscribers:
  indexer: {url: "http://127.0.0.1:1/hook", secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", backfill: 24h}
  mailer: {url: "http://127.0.0.1:1/hook", secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="}
`)
	store := testStore(t)
	eng := deliver.New(store, cfg.Subscribers, deliver.Options{})
	in := testIngester(t, cfg, store, nil)
	since := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	_, admin := routes.New(routes.Deps{Ingester: in, Store: store, Engine: eng, Version: "test",
		Backfills: fakeBackfills{"indexer": {Since: since, Queued: 42, Done: true}}})
	t.Cleanup(func() { eng.Stop(context.Background()) })

	got, body := do(t, admin, adminReq(http.MethodGet, "/admin/api/subscribers", adminToken))
	if got != 200 {
		t.Fatalf("GET subscribers = %d %s", got, body)
	}
	var rows []struct {
		Name     string
		Backfill *routes.BackfillProgress
	}
	decode(t, body, &rows)
	for _, r := range rows {
		switch {
		case r.Name == "indexer" && (r.Backfill == nil || *r.Backfill != routes.BackfillProgress{Since: since, Queued: 42, Done: true}):
			t.Errorf("indexer's backfill = %+v, want since %v, queued 42, done", r.Backfill, since)
		case r.Name == "mailer" && r.Backfill != nil:
			t.Errorf("mailer's backfill = %+v, want none", r.Backfill)
		}
	}
	if !strings.Contains(string(body), `"backfill":{"since":"2030-01-01T00:00:00Z","queued":42,"done":true}`) {
		t.Errorf("subscribers body %s lacks the backfill field as documented", body)
	}
	_, text := do(t, admin, adminReq(http.MethodGet, "/metrics", adminToken))
	for _, line := range []string{`hookgate_backfill_queued_total{subscriber="indexer"} 42`, `hookgate_backfill_queued_total{subscriber="mailer"} 0`} {
		if !strings.Contains(string(text), line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
