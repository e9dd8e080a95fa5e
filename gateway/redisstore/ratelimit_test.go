package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestTakeTokens: the bucket in Redis behaves as the in-memory one
// (gateway.TokenBucket), judged by the caller's clock here, and is shared
// by two stores on the same Redis and prefix as two gateways would be.
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
	if took, _, err := a.TakeTokens(ctx, "sub-c", gateway.RateLimit{}, 7); err != nil || took != 7 {
		t.Errorf("no limit: TakeTokens = %d, %v; want all 7", took, err)
	}
}
