package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testRecord(t *testing.T, h harness) {
	tests := []struct {
		name     string
		outcomes []gateway.Outcome // recorded in turn, each after a fresh claim
		want     gateway.DeliveryRecord
		wantDue  bool // still in the queue (claimable far in the future)
	}{
		{
			name:     "delivered at once",
			outcomes: []gateway.Outcome{delivered(at(time.Second))},
			want:     gateway.DeliveryRecord{Status: gateway.StatusDelivered, Attempts: 1, LastStatusCode: 200},
		},
		{
			name: "retrying",
			outcomes: []gateway.Outcome{
				retrying(at(time.Second), at(time.Minute), "HTTP 503"),
				retrying(at(time.Minute), at(5*time.Minute), "timeout"),
			},
			want:    gateway.DeliveryRecord{Status: gateway.StatusRetrying, Attempts: 2, LastStatusCode: 503, LastError: "timeout"},
			wantDue: true,
		},
		{
			name: "retrying then delivered",
			outcomes: []gateway.Outcome{
				retrying(at(time.Second), at(time.Minute), "HTTP 503"),
				delivered(at(time.Minute)),
			},
			want: gateway.DeliveryRecord{Status: gateway.StatusDelivered, Attempts: 2, LastStatusCode: 200},
		},
		{
			name: "retrying then dead",
			outcomes: []gateway.Outcome{
				retrying(at(time.Second), at(time.Minute), "HTTP 503"),
				retrying(at(time.Minute), at(5*time.Minute), "HTTP 503"),
				dead(at(5*time.Minute), "HTTP 400: bad request"),
			},
			want: gateway.DeliveryRecord{Status: gateway.StatusDead, Attempts: 3, LastStatusCode: 400, LastError: "HTTP 400: bad request"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := h.store(t)
			put(t, s, newEvent("evt_rec", "src1", "src1.product.updated", at(0), "sub-a"))
			now := at(0)
			for i, o := range tc.outcomes {
				c := claimOne(t, s, "sub-a", now)
				if c.Attempts != i {
					t.Errorf("claim %d: Attempts = %d, want %d", i, c.Attempts, i)
				}
				record(t, s, c, o)
				if o.Status == gateway.StatusRetrying {
					// Due again at NextAttemptAt, not a millisecond before.
					if n := len(claim(t, s, "sub-a", o.NextAttemptAt.Add(-time.Millisecond), 10)); n != 0 {
						t.Errorf("after retrying %d: claimable before NextAttemptAt", i)
					}
					now = o.NextAttemptAt
				}
			}

			got := delivery(t, s, "evt_rec", "sub-a")
			fields := []struct {
				name      string
				got, want any
			}{
				{"Status", got.Status, tc.want.Status},
				{"Attempts", got.Attempts, tc.want.Attempts},
				{"LastStatusCode", got.LastStatusCode, tc.want.LastStatusCode},
				{"LastError", got.LastError, tc.want.LastError},
				{"CreatedAt", got.CreatedAt.UTC(), at(0)},
				{"len(History)", len(got.History), len(tc.outcomes)},
			}
			for _, f := range fields {
				if f.got != f.want {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			last := tc.outcomes[len(tc.outcomes)-1]
			wantNext := time.Time{}
			if last.Status == gateway.StatusRetrying {
				wantNext = last.NextAttemptAt
			}
			if !timePtrEqual(got.NextAttemptAt, wantNext) {
				t.Errorf("NextAttemptAt = %s, want %v (zero: nil)", fmtTimePtr(got.NextAttemptAt), wantNext)
			}
			for i, a := range got.History {
				if i >= len(tc.outcomes) {
					break
				}
				w := tc.outcomes[i].Attempt
				if a.N != i+1 || !a.At.Equal(w.At) || a.Duration != w.Duration || a.StatusCode != w.StatusCode || a.Error != w.Error {
					t.Errorf("History[%d] = %+v, want attempt %d %+v", i, a, i+1, w)
				}
			}
			if n := len(claim(t, s, "sub-a", at(Retention), 10)); (n == 1) != tc.wantDue {
				t.Errorf("claimable at the end: got %d, want due=%v", n, tc.wantDue)
			}
		})
	}
}

func testRecordTwice(t *testing.T, h harness) {
	s := h.store(t)
	put(t, s, newEvent("evt_twice", "src1", "src1.product.updated", at(0), "sub-a"))
	c := claimOne(t, s, "sub-a", at(0))
	record(t, s, c, retrying(at(time.Second), at(time.Minute), "HTTP 500"))
	// The Record ended the lease: the same claim may not record again.
	err := s.Record(context.Background(), c, delivered(at(2*time.Second)))
	wantErr(t, "second Record with one claim", err, gateway.ErrLeaseLost)
	err = s.Release(context.Background(), c, at(time.Hour))
	wantErr(t, "Release after Record", err, gateway.ErrLeaseLost)
	d := delivery(t, s, "evt_twice", "sub-a")
	if d.Status != gateway.StatusRetrying || d.Attempts != 1 || len(d.History) != 1 {
		t.Errorf("after the refused Record: %s, %d attempts, %d history; want retrying, 1, 1", d.Status, d.Attempts, len(d.History))
	}
	if !timePtrEqual(d.NextAttemptAt, at(time.Minute)) {
		t.Errorf("NextAttemptAt = %s, want %v", fmtTimePtr(d.NextAttemptAt), at(time.Minute))
	}
}

func testRelease(t *testing.T, h harness) {
	tests := []struct {
		name       string
		failFirst  bool // record one retrying attempt before the released claim
		wantStatus gateway.DeliveryStatus
		wantTries  int
	}{
		{"pending stays pending", false, gateway.StatusPending, 0},
		{"retrying stays retrying", true, gateway.StatusRetrying, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := h.store(t)
			put(t, s, newEvent("evt_rel", "src1", "src1.product.updated", at(0), "sub-a"))
			if tc.failFirst {
				record(t, s, claimOne(t, s, "sub-a", at(0)), retrying(at(0), at(time.Second), "HTTP 502"))
			}
			c := claimOne(t, s, "sub-a", at(time.Second))
			if err := s.Release(context.Background(), c, at(10*time.Minute)); err != nil {
				t.Fatalf("Release: %v", err)
			}
			d := delivery(t, s, "evt_rel", "sub-a")
			if d.Status != tc.wantStatus || d.Attempts != tc.wantTries || len(d.History) != tc.wantTries {
				t.Errorf("after Release: %s, %d attempts, %d history; want %s, %d, %d",
					d.Status, d.Attempts, len(d.History), tc.wantStatus, tc.wantTries, tc.wantTries)
			}
			if !timePtrEqual(d.NextAttemptAt, at(10*time.Minute)) {
				t.Errorf("NextAttemptAt = %s, want %v", fmtTimePtr(d.NextAttemptAt), at(10*time.Minute))
			}
			if n := len(claim(t, s, "sub-a", at(10*time.Minute-time.Millisecond), 10)); n != 0 {
				t.Errorf("claimable before the release time: got %d", n)
			}
			wantErr(t, "Record with the released claim", s.Record(context.Background(), c, delivered(at(time.Minute))), gateway.ErrLeaseLost)
			wantErr(t, "Release twice", s.Release(context.Background(), c, at(time.Minute)), gateway.ErrLeaseLost)
			again := claimOne(t, s, "sub-a", at(10*time.Minute))
			if again.Attempts != tc.wantTries {
				t.Errorf("claim after Release: Attempts = %d, want %d", again.Attempts, tc.wantTries)
			}
			if got := stats(t, s, "sub-a").Pending; got != 1 {
				t.Errorf("Stats.Pending = %d, want 1", got)
			}
		})
	}
}
