package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testPutRoundTrip(t *testing.T, h harness) {
	s := h.store(t)
	e1 := newEvent("evt_rt1", "src1", "src1.product.updated", at(0), "sub-b", "sub-a")
	e2 := newEvent("evt_rt2", "src2", "src2.option.deleted", at(time.Second), "sub-a")
	e2.Envelope.Subject = ""
	res := put(t, s, e1, e2)
	for i, r := range res {
		if r.Duplicate {
			t.Errorf("Put result %d: Duplicate = true, want false", i)
		}
	}

	for _, e := range []gateway.NewEvent{e1, e2} {
		got := getEvent(t, s, e.Envelope.ID)
		if !bytes.Equal(got.Envelope, e.Body) {
			t.Errorf("%s: Envelope = %q, want the exact body %q", e.Envelope.ID, got.Envelope, e.Body)
		}
		fields := []struct {
			name      string
			got, want any
		}{
			{"ID", got.ID, e.Envelope.ID},
			{"Source", got.Source, e.Envelope.Source},
			{"Type", got.Type, e.Envelope.Type},
			{"Subject", got.Subject, e.Envelope.Subject},
			{"ReceivedAt", got.ReceivedAt.UTC(), e.ReceivedAt},
			{"Duplicates", got.Duplicates, 0},
			{"len(Deliveries)", len(got.Deliveries), len(e.Subscribers)},
		}
		for _, f := range fields {
			if f.got != f.want {
				t.Errorf("%s: %s = %v, want %v", e.Envelope.ID, f.name, f.got, f.want)
			}
		}
		for i, d := range got.Deliveries {
			if i > 0 && got.Deliveries[i-1].Subscriber >= d.Subscriber {
				t.Errorf("%s: deliveries not sorted by subscriber: %q before %q", e.Envelope.ID, got.Deliveries[i-1].Subscriber, d.Subscriber)
			}
			checkFresh(t, d, e.Envelope.ID, e.ReceivedAt)
			if d.LastStatusCode != 0 || d.LastError != "" || len(d.History) != 0 {
				t.Errorf("%s/%s: last status %d, last error %q, %d history; want none", e.Envelope.ID, d.Subscriber, d.LastStatusCode, d.LastError, len(d.History))
			}
		}
	}

	// One pending delivery per subscriber: sub-a has both events due,
	// sub-b only the first.
	for sub, want := range map[string]int{"sub-a": 2, "sub-b": 1, "sub-c": 0} {
		if got := len(claim(t, s, sub, at(time.Hour), 100)); got != want {
			t.Errorf("Claim(%s) got %d deliveries, want %d", sub, got, want)
		}
	}
}

// checkFresh checks a delivery that is pending with no attempt counted,
// created (or redelivered) at created. What it shows of earlier attempts
// is left to the caller.
func checkFresh(t *testing.T, d gateway.DeliveryRecord, id string, created time.Time) {
	t.Helper()
	fields := []struct {
		name      string
		got, want any
	}{
		{"EventID", d.EventID, id},
		{"Status", d.Status, gateway.StatusPending},
		{"Attempts", d.Attempts, 0},
		{"CreatedAt", d.CreatedAt.UTC(), created},
	}
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("%s/%s: %s = %v, want %v", id, d.Subscriber, f.name, f.got, f.want)
		}
	}
	if !timePtrEqual(d.NextAttemptAt, created) {
		t.Errorf("%s/%s: NextAttemptAt = %s, want %v", id, d.Subscriber, fmtTimePtr(d.NextAttemptAt), created)
	}
}

func testPutUnrouted(t *testing.T, h harness) {
	s := h.store(t)
	put(t, s, newEvent("evt_un", "src1", "src1.group.created", at(0)))
	got := getEvent(t, s, "evt_un")
	if len(got.Deliveries) != 0 {
		t.Errorf("Deliveries = %v, want none", got.Deliveries)
	}
	page, err := s.List(context.Background(), gateway.EventFilter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Events) != 1 || page.Events[0].Status != gateway.StatusUnrouted {
		t.Errorf("List = %+v, want one event with status unrouted", page.Events)
	}
}

func testDedupe(t *testing.T, h harness) {
	tests := []struct {
		name      string
		second    time.Duration // the redelivery's ReceivedAt
		sameCall  bool          // both in one Put call
		wantDup   bool
		wantRecv  time.Duration // ReceivedAt the event shows after
		wantDups  int           // Duplicates counter (checked unless sameCall)
		wantClaim int           // deliveries due at the end
	}{
		{name: "again within window", second: 30 * time.Minute, wantDup: true, wantRecv: 0, wantDups: 1, wantClaim: 0},
		{name: "same id twice in one call", sameCall: true, wantDup: true, wantRecv: 0, wantClaim: 1},
		{name: "after the window", second: DedupeWindow + time.Minute, wantDup: false, wantRecv: DedupeWindow + time.Minute, wantClaim: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := h.store(t)
			first := newEvent("evt_dd", "src1", "src1.product.created", at(0), "sub-a")
			again := newEvent("evt_dd", "src1", "src1.product.created", at(tc.second), "sub-a")
			again.Body = []byte(`{"redelivered":true}`)
			if tc.sameCall {
				res := put(t, s, first, again)
				if res[0].Duplicate || !res[1].Duplicate {
					t.Errorf("Put results = %+v, want [not duplicate, duplicate]", res)
				}
			} else {
				put(t, s, first)
				// The first delivery is done, so a new one shows up as due.
				record(t, s, claimOne(t, s, "sub-a", at(0)), delivered(at(time.Second)))
				if res := put(t, s, again); res[0].Duplicate != tc.wantDup {
					t.Errorf("second Put: Duplicate = %v, want %v", res[0].Duplicate, tc.wantDup)
				}
			}
			got := getEvent(t, s, "evt_dd")
			if !got.ReceivedAt.Equal(at(tc.wantRecv)) {
				t.Errorf("ReceivedAt = %v, want %v", got.ReceivedAt, at(tc.wantRecv))
			}
			if tc.wantDup {
				if !bytes.Equal(got.Envelope, first.Body) {
					t.Errorf("Envelope = %q, want the first body %q", got.Envelope, first.Body)
				}
				if !tc.sameCall && got.Duplicates != tc.wantDups {
					t.Errorf("Duplicates = %d, want %d", got.Duplicates, tc.wantDups)
				}
			}
			if len(got.Deliveries) != 1 {
				t.Errorf("got %d deliveries, want 1", len(got.Deliveries))
			}
			if n := len(claim(t, s, "sub-a", at(2*DedupeWindow), 10)); n != tc.wantClaim {
				t.Errorf("Claim got %d deliveries, want %d", n, tc.wantClaim)
			}
		})
	}

	t.Run("counter counts each redelivery", func(t *testing.T) {
		s := h.store(t)
		for i := range 3 {
			put(t, s, newEvent("evt_cnt", "src1", "src1.product.created", at(time.Duration(i)*time.Minute), "sub-a"))
		}
		if got := getEvent(t, s, "evt_cnt").Duplicates; got != 2 {
			t.Errorf("Duplicates = %d, want 2", got)
		}
		if got := stats(t, s, "sub-a").Pending; got != 1 {
			t.Errorf("Stats.Pending = %d, want 1", got)
		}
	})
}
