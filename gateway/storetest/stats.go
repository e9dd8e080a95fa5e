package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testStats(t *testing.T, h harness) {
	s := h.store(t)
	if got := stats(t, s, "sub-a"); got != (gateway.SubscriberStats{}) {
		t.Errorf("Stats of a subscriber without deliveries = %+v, want zero", got)
	}
	put(t, s,
		newEvent("evt_s1", "src1", "src1.product.updated", at(0), "sub-a"),
		newEvent("evt_s2", "src1", "src1.product.updated", at(time.Second), "sub-a"),
		newEvent("evt_s3", "src1", "src1.product.updated", at(2*time.Second), "sub-a", "sub-b"),
	)
	claims := map[string]gateway.Claim{}
	for _, c := range claim(t, s, "sub-a", at(2*time.Second), 10) {
		claims[c.EventID] = c
	}
	if len(claims) != 3 {
		t.Fatalf("claimed %d, want 3", len(claims))
	}

	steps := []struct {
		name string
		do   func()
		want gateway.SubscriberStats
	}{
		{"claimed deliveries still count as pending", func() {},
			gateway.SubscriberStats{Pending: 3, OldestPendingAt: at(0)}},
		{"a success", func() { record(t, s, claims["evt_s1"], delivered(at(time.Minute))) },
			gateway.SubscriberStats{Pending: 2, OldestPendingAt: at(time.Second), Delivered: 1, LastSuccessAt: at(time.Minute)}},
		{"a failure to retry", func() {
			record(t, s, claims["evt_s2"], retrying(at(2*time.Minute), at(3*time.Minute), "connection refused"))
		}, gateway.SubscriberStats{Pending: 2, Retrying: 1, OldestPendingAt: at(time.Second), Delivered: 1,
			LastSuccessAt: at(time.Minute), LastError: "connection refused"}},
		{"the retry dies", func() {
			record(t, s, claimOne(t, s, "sub-a", at(3*time.Minute)), dead(at(3*time.Minute), "HTTP 410"))
		}, gateway.SubscriberStats{Pending: 1, OldestPendingAt: at(2 * time.Second), Dead: 1, Delivered: 1,
			LastSuccessAt: at(time.Minute), LastError: "HTTP 410"}},
		{"a redelivery is pending again, created now", func() {
			if _, err := s.Redeliver(context.Background(), "evt_s2", "sub-a", at(5*time.Minute)); err != nil {
				t.Fatalf("Redeliver: %v", err)
			}
		}, gateway.SubscriberStats{Pending: 2, OldestPendingAt: at(2 * time.Second), Delivered: 1,
			LastSuccessAt: at(time.Minute), LastError: "HTTP 410"}},
		{"a later success clears the error", func() { record(t, s, claims["evt_s3"], delivered(at(6*time.Minute))) },
			gateway.SubscriberStats{Pending: 1, OldestPendingAt: at(5 * time.Minute), Delivered: 2, LastSuccessAt: at(6 * time.Minute)}},
		{"the redelivery fails again", func() {
			record(t, s, claimOne(t, s, "sub-a", at(7*time.Minute)), retrying(at(7*time.Minute), at(8*time.Minute), "HTTP 502"))
		}, gateway.SubscriberStats{Pending: 1, Retrying: 1, OldestPendingAt: at(5 * time.Minute), Delivered: 2,
			LastSuccessAt: at(6 * time.Minute), LastError: "HTTP 502"}},
		{"purged, nothing is pending", func() {
			if _, err := s.Purge(context.Background(), "sub-a"); err != nil {
				t.Fatalf("Purge: %v", err)
			}
		}, gateway.SubscriberStats{Delivered: 2, LastSuccessAt: at(6 * time.Minute), LastError: "HTTP 502"}},
	}
	for _, st := range steps {
		st.do()
		got := stats(t, s, "sub-a")
		got.LastSuccessAt = got.LastSuccessAt.UTC()
		got.OldestPendingAt = got.OldestPendingAt.UTC()
		if got != st.want {
			t.Errorf("%s: Stats = %+v, want %+v", st.name, got, st.want)
		}
	}
	got := stats(t, s, "sub-b")
	got.OldestPendingAt = got.OldestPendingAt.UTC()
	if want := (gateway.SubscriberStats{Pending: 1, OldestPendingAt: at(2 * time.Second)}); got != want {
		t.Errorf("Stats(sub-b) = %+v, want %+v", got, want)
	}
}

func testDead(t *testing.T, h harness) {
	s := h.store(t)
	put(t, s,
		newEvent("evt_d1", "src1", "src1.product.updated", at(0), "sub-a"),
		newEvent("evt_d2", "src1", "src1.product.updated", at(0), "sub-a"),
		newEvent("evt_d3", "src1", "src1.product.updated", at(0), "sub-a"),
		newEvent("evt_ok", "src1", "src1.product.updated", at(0), "sub-a"),
	)
	// Each dies at its own time, not in claim order.
	dieAt := map[string]time.Duration{"evt_d1": 3 * time.Minute, "evt_d2": time.Minute, "evt_d3": 2 * time.Minute}
	for _, c := range claim(t, s, "sub-a", at(0), 10) {
		if when, ok := dieAt[c.EventID]; ok {
			record(t, s, c, dead(at(when), "rejected: "+c.EventID))
		} else {
			record(t, s, c, delivered(at(time.Minute)))
		}
	}

	tests := []struct {
		sub   string
		limit int
		want  []string
	}{
		{"sub-a", 10, []string{"evt_d1", "evt_d3", "evt_d2"}},
		{"sub-a", 2, []string{"evt_d1", "evt_d3"}},
		{"sub-b", 10, nil},
	}
	for _, tc := range tests {
		got, err := s.Dead(context.Background(), tc.sub, gateway.DeadFilter{Limit: tc.limit})
		if err != nil {
			t.Fatalf("Dead(%s, %d): %v", tc.sub, tc.limit, err)
		}
		var ids []string
		for _, d := range got {
			ids = append(ids, d.EventID)
			if d.Subscriber != tc.sub || d.Status != gateway.StatusDead || d.Attempts != 1 ||
				d.LastStatusCode != 400 || d.LastError != "rejected: "+d.EventID || d.NextAttemptAt != nil ||
				len(d.History) != 1 || d.History[0].N != 1 || d.History[0].StatusCode != 400 ||
				!d.History[0].At.Equal(at(dieAt[d.EventID])) {
				t.Errorf("Dead(%s) entry = %+v, want dead, 1 attempt, code 400, its error, no next attempt, its one attempt in history", tc.sub, d)
			}
		}
		if !equalStrings(ids, tc.want) {
			t.Errorf("Dead(%s, %d) = %v, want %v", tc.sub, tc.limit, ids, tc.want)
		}
	}
}
