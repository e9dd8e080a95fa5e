package routes_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// statsStore is a real store whose Stats answers with fixed retrying and
// oldest-pending values for one subscriber, so the view is checked apart
// from how each store counts them (storetest does that).
type statsStore struct {
	gateway.Store
	sub      string
	retrying int64
	oldest   time.Time
}

func (s statsStore) Stats(ctx context.Context, sub string) (gateway.SubscriberStats, error) {
	st, err := s.Store.Stats(ctx, sub)
	if err == nil && sub == s.sub {
		st.Retrying, st.OldestPendingAt = s.retrying, s.oldest
	}
	return st, err
}

// TestAdminSubscribersWaiting: every row carries retrying and
// oldest_pending_at, from the store's stats; oldest_pending_at is null
// when nothing waits, RFC 3339 otherwise.
func TestAdminSubscribersWaiting(t *testing.T) {
	oldest := time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.UTC)
	e := newAdminEnv(t, adminEnv{
		token:       adminToken,
		subscribers: "  idle:\n    url: \"http://127.0.0.1:1/idle\"\n    secret: \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\n",
		wrap: func(s gateway.Store) gateway.Store {
			return statsStore{Store: s, sub: "indexer", retrying: 3, oldest: oldest}
		},
	})
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/subscribers", adminToken))
	if got != 200 {
		t.Fatalf("GET subscribers = %d %s", got, body)
	}
	var rows []map[string]any
	decode(t, body, &rows)
	byName := map[string]map[string]any{}
	for _, r := range rows {
		byName[r["name"].(string)] = r
	}
	tests := []struct {
		name     string
		retrying float64
		oldest   any // string, or nil for null
	}{
		{"indexer", 3, oldest.Format(time.RFC3339Nano)},
		{"idle", 0, nil},
	}
	for _, tt := range tests {
		r, ok := byName[tt.name]
		if !ok {
			t.Fatalf("no row for %s: %s", tt.name, body)
		}
		for _, k := range []string{"retrying", "oldest_pending_at"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s: no %q field: %v", tt.name, k, r)
			}
		}
		if got := r["retrying"]; got != tt.retrying {
			t.Errorf("%s: retrying = %v, want %v", tt.name, got, tt.retrying)
		}
		if got := r["oldest_pending_at"]; got != tt.oldest {
			t.Errorf("%s: oldest_pending_at = %v, want %v", tt.name, got, tt.oldest)
		}
	}
	want := []string{"breaker", "dead", "delivered", "kind", "last_error", "last_success_at", "name",
		"oldest_pending_at", "paused", "paused_reason", "pending", "removed", "retrying", "url"}
	if got := keys(byName["idle"]); !slices.Equal(got, want) {
		t.Errorf("row keys = %v, want %v", got, want)
	}
}

// TestAdminSubscribersPausedReason: paused_reason says why a subscriber
// is held, "admin" after the pause endpoint, "gone" after a 410 paused it
// (written to the store as the engine does), "" when not paused; resume
// clears either.
func TestAdminSubscribersPausedReason(t *testing.T) {
	const sec = "    secret: \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\n"
	e := newAdminEnv(t, adminEnv{
		token: adminToken,
		subscribers: "  idle:\n    url: \"http://127.0.0.1:1/idle\"\n" + sec +
			"  retired:\n    url: \"http://127.0.0.1:1/retired\"\n" + sec,
	})
	if got, body := do(t, e.admin, adminReq(http.MethodPost, "/admin/api/subscribers/indexer/pause", adminToken)); got != 200 {
		t.Fatalf("pause indexer = %d %s", got, body)
	}
	if err := e.store.SetPaused(context.Background(), "retired", gateway.PauseGone); err != nil {
		t.Fatalf("SetPaused(retired, gone): %v", err)
	}
	rows := func() map[string]map[string]any {
		t.Helper()
		got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/subscribers", adminToken))
		if got != 200 {
			t.Fatalf("GET subscribers = %d %s", got, body)
		}
		var rows []map[string]any
		decode(t, body, &rows)
		byName := map[string]map[string]any{}
		for _, r := range rows {
			byName[r["name"].(string)] = r
		}
		return byName
	}
	check := func(when string, want map[string]string) {
		t.Helper()
		byName := rows()
		for name, reason := range want {
			r := byName[name]
			if got := r["paused_reason"]; got != reason {
				t.Errorf("%s: %s paused_reason = %v, want %q", when, name, got, reason)
			}
			if got := r["paused"]; got != (reason != "") {
				t.Errorf("%s: %s paused = %v, want %v", when, name, got, reason != "")
			}
		}
	}
	check("paused", map[string]string{"indexer": "admin", "retired": "gone", "idle": ""})
	if got, body := do(t, e.admin, adminReq(http.MethodPost, "/admin/api/subscribers/retired/resume", adminToken)); got != 200 {
		t.Fatalf("resume retired = %d %s", got, body)
	}
	check("after resume", map[string]string{"indexer": "admin", "retired": "", "idle": ""})
}
