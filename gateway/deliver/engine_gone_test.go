package deliver

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// testGonePauses: a subscriber that answers 410 Gone has that delivery
// dead at once and is paused, reason gone, in the store every gateway
// shares: no attempt starts for it afterwards, in this gateway or in one
// started later on the same store, until it is resumed; the resume then
// releases the rest, none of it counted as an attempt.
func testGonePauses(t *testing.T, bk backend) {
	st, other := bk.shared(t)
	var answered atomic.Int64
	sk := newSink(t, func(request, int) (int, http.Header) {
		if answered.Add(1) == 1 {
			return http.StatusGone, nil
		}
		return http.StatusOK, nil
	})
	ids := putEvents(t, st, 3, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 1                 // one attempt under way at a time: the 410 is the only one
	cfg.Breaker.ConsecutiveFailures = 1 // a 410 must not count against it
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	ctx := context.Background()
	waitFor(t, "paused, reason gone", func() bool {
		r, err := other.Paused(ctx, "a")
		return err == nil && r == gateway.PauseGone
	})
	var dead string
	waitFor(t, "one delivery dead", func() bool {
		for _, id := range ids {
			if delivery(t, st, id, "a").Status == gateway.StatusDead {
				dead = id
				return true
			}
		}
		return false
	})
	d := delivery(t, st, dead, "a")
	if d.Attempts != 1 || d.LastStatusCode != http.StatusGone || d.LastError != "HTTP 410" {
		t.Errorf("%s: attempts %d, last %d %q; want 1, 410 \"HTTP 410\"", dead, d.Attempts, d.LastStatusCode, d.LastError)
	}

	// Another gateway started on the same store sends nothing either.
	e2 := startEngine(t, other, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))
	e.Notify("a")
	e2.Notify("a")
	time.Sleep(100 * time.Millisecond) // let both dispatchers loop; not an assertion on time
	if n := sk.total(); n != 1 {
		t.Fatalf("subscriber got %d requests after its 410, want the 1", n)
	}
	for _, id := range ids {
		if id == dead {
			continue
		}
		if d := delivery(t, st, id, "a"); d.Status != gateway.StatusPending || d.Attempts != 0 {
			t.Errorf("%s while paused: %s after %d attempts, want pending after 0", id, d.Status, d.Attempts)
		}
	}
	if got := e.Breaker("a"); got != "closed" {
		t.Errorf("breaker = %q after a 410, want closed", got)
	}

	// Resume (the admin API's): the rest is delivered; the dead one stays dead.
	if err := other.SetPaused(ctx, "a", gateway.PauseNone); err != nil {
		t.Fatal(err)
	}
	e2.NotifyPaused("a", false)
	e.NotifyPaused("a", false)
	var rest []string
	for _, id := range ids {
		if id != dead {
			rest = append(rest, id)
		}
	}
	waitFor(t, "delivered after resume", statusIs(t, st, "a", gateway.StatusDelivered, rest...))
	if r, err := st.Paused(ctx, "a"); err != nil || r != gateway.PauseNone {
		t.Errorf("Paused after resume = %q, %v; want none", r, err)
	}
	if d := delivery(t, st, dead, "a"); d.Status != gateway.StatusDead {
		t.Errorf("%s after resume: %s, want dead", dead, d.Status)
	}
}

// pauseFailStore is a real store whose SetPaused fails, as a store that
// is down would.
type pauseFailStore struct {
	gateway.Store
	tries atomic.Int64
}

func (s *pauseFailStore) SetPaused(context.Context, string, gateway.PauseReason) error {
	s.tries.Add(1)
	return errDown
}

// testGonePauseFails: when the pause after a 410 cannot be stored, the
// delivery is still recorded dead, and each later 410 tries the pause
// again; the engine goes on.
func testGonePauseFails(t *testing.T, bk backend) {
	st := &pauseFailStore{Store: bk.open(t)}
	sk := newSink(t, func(request, int) (int, http.Header) { return http.StatusGone, nil })
	ids := putEvents(t, st, 2, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.MaxInFlight = 1
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	waitFor(t, "both dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	if n := st.tries.Load(); n != 2 {
		t.Errorf("SetPaused tried %d times, want once per 410 (2)", n)
	}
	if r, err := st.Paused(context.Background(), "a"); err != nil || r != gateway.PauseNone {
		t.Errorf("Paused = %q, %v; want none (the pause failed)", r, err)
	}
}
