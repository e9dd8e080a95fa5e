package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestServerClock: two gateways share one Redis and their clocks differ by
// an hour. Leases and due times go by Redis's clock, so the one ahead
// cannot take what the other leased or set to retry later, and work the
// one ahead puts, releases or redelivers is due at once for the one behind.
func TestServerClock(t *testing.T) {
	srv := testredis.Start(t)
	openAt := func(skew time.Duration) (*Store, func() time.Time) {
		s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "clock"}})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s, func() time.Time { return time.Now().Add(skew) }
	}
	ahead, aheadNow := openAt(30 * time.Minute)
	behind, behindNow := openAt(-30 * time.Minute)
	ctx := context.Background()
	// Longer than the tests take, shorter than the clocks' difference.
	const lease = 30 * time.Minute

	ev := testEvent("evt_clock")
	ev.ReceivedAt = aheadNow()
	if _, err := ahead.Put(ctx, []gateway.NewEvent{ev}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// claimN claims as s at its now. Work that is due at once may still
	// be a millisecond or two ahead of Redis's clock (a release is
	// translated with the offset its claim measured, give or take the
	// round trips), so a wanted claim is retried for a while: seconds, not
	// the hour the clocks differ by.
	claimN := func(step string, s *Store, now func() time.Time, want int) []gateway.Claim {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			cs, err := s.Claim(ctx, "sub-a", now(), 10, lease)
			if err != nil {
				t.Fatalf("%s: Claim: %v", step, err)
			}
			if len(cs) >= want || time.Now().After(deadline) {
				if len(cs) != want {
					t.Fatalf("%s: Claim = %d claims; want %d", step, len(cs), want)
				}
				return cs
			}
			time.Sleep(time.Millisecond)
		}
	}

	steps := []struct {
		name string
		// act leaves the delivery as the step says; then claimer claims it
		// at its own now, and gets want claims.
		act     func(c *gateway.Claim) error
		claimer *Store
		now     func() time.Time
		want    int
	}{
		{"put by the one ahead, claimed by the one behind at once", nil, behind, behindNow, 1},
		{"leased by the one behind, not taken by the one ahead", nil, ahead, aheadNow, 0},
		{"released at its now by the one behind, due at once for the one ahead", func(c *gateway.Claim) error {
			return behind.Release(ctx, *c, behindNow())
		}, ahead, aheadNow, 1},
		{"released at its now by the one ahead, due at once for the one behind", func(c *gateway.Claim) error {
			return ahead.Release(ctx, *c, aheadNow())
		}, behind, behindNow, 1},
		{"set to retry in 10 minutes by the one behind, not yet due for the one ahead", func(c *gateway.Claim) error {
			n := behindNow()
			return behind.Record(ctx, *c, gateway.Outcome{Status: gateway.StatusRetrying, NextAttemptAt: n.Add(10 * time.Minute),
				Attempt: gateway.Attempt{At: n, StatusCode: 503, Error: "HTTP 503"}})
		}, ahead, aheadNow, 0},
		{"redelivered by the one ahead, due at once for the one behind", func(*gateway.Claim) error {
			_, err := ahead.Redeliver(ctx, "evt_clock", "sub-a", aheadNow())
			return err
		}, behind, behindNow, 1},
	}
	var held *gateway.Claim
	for _, st := range steps {
		if st.act != nil {
			if err := st.act(held); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if cs := claimN(st.name, st.claimer, st.now, st.want); len(cs) == 1 {
			held = &cs[0]
		}
	}
	// The lease the one behind holds is still its own.
	err := behind.Record(ctx, *held, gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: behindNow(), StatusCode: 200}})
	if err != nil {
		t.Errorf("Record by the lease holder: %v", err)
	}
	if err := ahead.Release(ctx, *held, aheadNow()); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("Release after the Record: got %v, want ErrLeaseLost", err)
	}
}
