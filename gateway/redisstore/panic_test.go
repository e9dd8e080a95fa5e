package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// panicHook panics once, on the next script call after it is armed, as a
// bug on an unexpected reply would in the writer that sent it.
type panicHook struct {
	passHook
	armed atomic.Bool
}

func (h *panicHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.maybePanic(cmd)
		return next(ctx, cmd)
	}
}

func (h *panicHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.maybePanic(c)
		}
		return next(ctx, cmds)
	}
}

func (h *panicHook) maybePanic(cmd redis.Cmder) {
	if strings.HasPrefix(cmd.Name(), "eval") && h.armed.CompareAndSwap(true, false) {
		panic("unexpected reply")
	}
}

// TestWriterPanicContained: a panic while a Put or Record batch is being
// written fails that batch as unavailable (nothing unstored is
// acknowledged), is counted, and the writers go on serving.
func TestWriterPanicContained(t *testing.T) {
	s := openTest(t, "panic")
	hook := &panicHook{}
	s.rdb.AddHook(hook)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	count := func(c string) int64 {
		for _, p := range gateway.Panics() {
			if p.Component == c {
				return p.Count
			}
		}
		return 0
	}

	before := count("redisstore.put")
	hook.armed.Store(true)
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_1")}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("Put through a panicking writer: got %v, want ErrUnavailable", err)
	}
	if got := count("redisstore.put") - before; got != 1 {
		t.Errorf("put panics counted: got %d, want 1", got)
	}
	res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_1"), testEvent("evt_2")})
	if err != nil || res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("Put after the panic = %+v, %v; want both stored (the first was never written)", res, err)
	}

	now := testEvent("").ReceivedAt.Add(time.Second)
	claims, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim = %d claims, %v; want 2", len(claims), err)
	}
	before = count("redisstore.record")
	hook.armed.Store(true)
	ok := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
	if err := s.Record(ctx, claims[0], ok); !errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("Record through a panicking writer: got %v, want ErrUnavailable", err)
	}
	if got := count("redisstore.record") - before; got != 1 {
		t.Errorf("record panics counted: got %d, want 1", got)
	}
	for _, c := range claims {
		if err := s.Record(ctx, c, ok); err != nil {
			t.Errorf("Record %s after the panic: %v", c.EventID, err)
		}
	}
}
