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
		newEvent("evt_s2", "src1", "src1.product.updated", at(0), "sub-a"),
		newEvent("evt_s3", "src1", "src1.product.updated", at(0), "sub-a", "sub-b"),
	)
	claims := map[string]gateway.Claim{}
	for _, c := range claim(t, s, "sub-a", at(0), 10) {
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
			gateway.SubscriberStats{Pending: 3}},
		{"a success", func() { record(t, s, claims["evt_s1"], delivered(at(time.Minute))) },
			gateway.SubscriberStats{Pending: 2, Delivered: 1, LastSuccessAt: at(time.Minute)}},
		{"a failure to retry", func() {
			record(t, s, claims["evt_s2"], retrying(at(2*time.Minute), at(3*time.Minute), "connection refused"))
		}, gateway.SubscriberStats{Pending: 2, Delivered: 1, LastSuccessAt: at(time.Minute), LastError: "connection refused"}},
		{"the retry dies", func() {
			record(t, s, claimOne(t, s, "sub-a", at(3*time.Minute)), dead(at(3*time.Minute), "HTTP 410"))
		}, gateway.SubscriberStats{Pending: 1, Dead: 1, Delivered: 1, LastSuccessAt: at(time.Minute), LastError: "HTTP 410"}},
		{"a later success clears the error", func() { record(t, s, claims["evt_s3"], delivered(at(4*time.Minute))) },
			gateway.SubscriberStats{Dead: 1, Delivered: 2, LastSuccessAt: at(4 * time.Minute)}},
	}
	for _, st := range steps {
		st.do()
		got := stats(t, s, "sub-a")
		got.LastSuccessAt = got.LastSuccessAt.UTC()
		if got != st.want {
			t.Errorf("%s: Stats = %+v, want %+v", st.name, got, st.want)
		}
	}
	if got, want := stats(t, s, "sub-b"), (gateway.SubscriberStats{Pending: 1}); got != want {
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
		got, err := s.Dead(context.Background(), tc.sub, tc.limit)
		if err != nil {
			t.Fatalf("Dead(%s, %d): %v", tc.sub, tc.limit, err)
		}
		var ids []string
		for _, d := range got {
			ids = append(ids, d.EventID)
			if d.Subscriber != tc.sub || d.Status != gateway.StatusDead || d.Attempts != 1 ||
				d.LastStatusCode != 400 || d.LastError != "rejected: "+d.EventID || d.NextAttemptAt != nil || len(d.History) != 0 {
				t.Errorf("Dead(%s) entry = %+v, want dead, 1 attempt, code 400, its error, no next attempt, no history", tc.sub, d)
			}
		}
		if !equalStrings(ids, tc.want) {
			t.Errorf("Dead(%s, %d) = %v, want %v", tc.sub, tc.limit, ids, tc.want)
		}
	}
}
