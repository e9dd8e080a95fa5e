package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestTakeTokens: the bucket in Redis behaves as the in-memory one
// (package deliver's tokenBucket), judged by the caller's clock here, and
// is shared by two stores on the same Redis and prefix as two gateways
// would be.
func TestTakeTokens(t *testing.T) {
	srv := testredis.Start(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "rl"}}
	a, err := OpenCallerClock(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenCallerClock(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	limit := gateway.RateLimit{Rate: 10, Burst: 5}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		s        *Store
		at       time.Duration
		ask      int
		want     int
		wantWait time.Duration
	}{
		{a, 0, 3, 3, 0},
		{b, 0, 8, 2, 100 * time.Millisecond}, // the other gateway gets what is left
		{a, 50 * time.Millisecond, 1, 0, 50 * time.Millisecond},
		{b, 100 * time.Millisecond, 3, 1, 100 * time.Millisecond},
		{a, time.Second, 20, 5, 100 * time.Millisecond}, // refilled to the burst, not beyond
	}
	for i, st := range steps {
		took, wait, err := st.s.bucket(ctx, "sub-a", limit, st.ask, "take", t0.Add(st.at))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if took != st.want || (took < st.ask && wait != st.wantWait) {
			t.Errorf("step %d: take %d at +%v = %d, wait %v; want %d, wait %v", i, st.ask, st.at, took, wait, st.want, st.wantWait)
		}
	}
	if _, _, err := a.bucket(ctx, "sub-a", limit, 100, "return", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if took, _, _ := b.bucket(ctx, "sub-a", limit, 100, "take", t0.Add(time.Second)); took != 5 {
		t.Errorf("after returning more than the burst, take = %d, want the burst 5", took)
	}
	if took, _, _ := b.bucket(ctx, "sub-b", limit, 100, "take", t0); took != 5 {
		t.Errorf("another subscriber's bucket: take = %d, want its full burst 5", took)
	}
}

// TestClaimLimited: a claim within the rate limit leases at most the
// tokens the bucket has, one per lease, and says when the next comes; the
// due deliveries left wait, unleased, until then. On one partition the
// bucket is taken in the claim script itself; on several, after a peek,
// so that no token is taken for work that is not due.
func TestClaimLimited(t *testing.T) {
	for _, parts := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d partitions", parts), func(t *testing.T) {
			srv := testredis.Start(t)
			s, err := OpenCallerClock(gateway.StoreConfig{Redis: &gateway.RedisConfig{
				URL: gateway.Secret(srv.URL()), Prefix: "cl", Partitions: parts}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			limit := gateway.RateLimit{Rate: 10, Burst: 2}
			// Nothing due: no token is taken.
			if cs, wait, err := s.ClaimLimited(ctx, "sub-a", t0, 5, time.Minute, limit); err != nil || len(cs) != 0 || wait != 0 {
				t.Fatalf("nothing due: %d claims, wait %v, %v; want none, 0", len(cs), wait, err)
			}
			var evs []gateway.NewEvent
			for i := range 5 {
				e := testEvent(fmt.Sprintf("evt_%d", i))
				e.Envelope.Subject = fmt.Sprintf("product/%d", i)
				e.ReceivedAt = t0
				evs = append(evs, e)
			}
			if _, err := s.Put(ctx, evs); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				at       time.Duration
				want     int
				wantWait time.Duration
			}{
				{0, 2, 100 * time.Millisecond}, // the burst
				{50 * time.Millisecond, 0, 50 * time.Millisecond},
				{100 * time.Millisecond, 1, 100 * time.Millisecond},
				{time.Second, 2, 0}, // the burst again; only two were left
			}
			for i, st := range steps {
				cs, wait, err := s.ClaimLimited(ctx, "sub-a", t0.Add(st.at), 5, time.Minute, limit)
				if err != nil || len(cs) != st.want || wait != st.wantWait {
					t.Errorf("step %d at +%v: %d claims, wait %v, %v; want %d, wait %v", i+1, st.at, len(cs), wait, err, st.want, st.wantWait)
				}
			}
		})
	}
}
