package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestUnavailable stops redis-server under an open store: every call must
// fail with ErrUnavailable (so ingest answers 503), and work again once the
// server is back, with what was written before the crash still there
// (appendfsync always).
func TestUnavailable(t *testing.T) {
	srv := testredis.Start(t)
	s, err := Open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "down"}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(id string) []gateway.NewEvent {
		return []gateway.NewEvent{{
			Envelope:    gateway.Envelope{ID: id, Source: "src1", Type: "src1.product.updated"},
			Body:        []byte(`{}`),
			ReceivedAt:  now,
			Subscribers: []string{"sub-a"},
		}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.Put(ctx, ev("evt_before")); err != nil {
		t.Fatalf("Put before the crash: %v", err)
	}

	srv.Stop()
	calls := []struct {
		name string
		call func() error
	}{
		{"Put", func() error { _, err := s.Put(ctx, ev("evt_during")); return err }},
		{"Claim", func() error { _, err := s.Claim(ctx, "sub-a", now, 10, time.Minute); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Event", func() error { _, err := s.Event(ctx, "evt_before"); return err }},
		{"Stats", func() error { _, err := s.Stats(ctx, "sub-a"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("%s with Redis down: got %v, want an error wrapping ErrUnavailable", c.name, err)
		}
	}

	srv.Restart()
	// go-redis remembers a failed dial and re-dials in the background about
	// once a second, so the store comes back shortly after Redis does.
	for err := s.Ping(ctx); err != nil; err = s.Ping(ctx) {
		if ctx.Err() != nil {
			t.Fatalf("Ping after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := s.Put(ctx, ev("evt_after"))
	if err != nil || res[0].Duplicate {
		t.Fatalf("Put after restart = %+v, %v; want stored", res, err)
	}
	if res, err := s.Put(ctx, ev("evt_before")); err != nil || !res[0].Duplicate {
		t.Errorf("Put of the pre-crash event after restart = %+v, %v; want a duplicate", res, err)
	}
	cs, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(cs) != 2 {
		t.Errorf("Claim after restart = %d claims, %v; want 2 (before and after)", len(cs), err)
	}
}
