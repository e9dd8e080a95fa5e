package redisstore

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// betweenHook runs the next eval twice, calling between() after the first
// run: another gateway's call landing while this one's reply is lost.
type betweenHook struct {
	passHook
	armed   atomic.Bool
	between func()
}

func (h *betweenHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.HasPrefix(cmd.Name(), "eval") && h.armed.CompareAndSwap(true, false) {
			_ = next(ctx, cmd)
			h.between()
		}
		return next(ctx, cmd)
	}
}

// TestClaimRerunOtherGateway: two gateways on one store; the other's claim
// lands between A's first run and its re-run. A's re-run still answers
// what its first run leased, and the rest stays due.
func TestClaimRerunOtherGateway(t *testing.T) {
	srv := testredis.Start(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "revcl"}}
	a, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	other, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	var evs []gateway.NewEvent
	for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_6"} {
		evs = append(evs, testEvent(id))
	}
	if _, err := a.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := evs[0].ReceivedAt.Add(time.Second)
	if _, err := a.Claim(ctx, "sub-a", now, 1, time.Minute); err != nil { // loads the script
		t.Fatal(err)
	}
	hook := &betweenHook{between: func() {
		if _, err := other.Claim(ctx, "sub-a", now, 1, time.Minute); err != nil {
			t.Error(err)
		}
	}}
	a.rdb.AddHook(hook)
	hook.armed.Store(true)
	got, err := a.Claim(ctx, "sub-a", now, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := a.Claim(ctx, "sub-a", now, 10, time.Minute)
	if len(got)+len(rest) != 4 {
		t.Errorf("A's re-run got %d, then %d more (want 4: the first run's 2, then the 2 left): the first run's 2 leases are stranded until they expire", len(got), len(rest))
	}
}

// ProcessPipelineHook does the same for a script sent in a pipeline, as
// claims are (runDurableEach).
func (h *betweenHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if hasEval(cmds) && h.armed.CompareAndSwap(true, false) {
			_ = next(ctx, cmds)
			h.between()
		}
		return next(ctx, cmds)
	}
}

// hasEval reports whether cmds hold a script call.
func hasEval(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if strings.HasPrefix(c.Name(), "eval") {
			return true
		}
	}
	return false
}

// loseHook runs the next script call and then loses its reply, as a
// connection reset just after Redis answered would.
type loseHook struct {
	passHook
	armed atomic.Bool
}

func (h *loseHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if strings.HasPrefix(cmd.Name(), "eval") && h.armed.CompareAndSwap(true, false) {
			cmd.SetErr(io.EOF)
			return io.EOF
		}
		return err
	}
}

// ProcessPipelineHook does the same for a script sent in a pipeline.
func (h *loseHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if hasEval(cmds) && h.armed.CompareAndSwap(true, false) {
			for _, c := range cmds {
				c.SetErr(io.EOF)
			}
			return io.EOF
		}
		return err
	}
}

// TestClaimReplyLost: a claim whose reply was lost leased its deliveries
// all the same; the next claim of the subscriber hands them out, instead
// of leaving them unused until their leases end, and leases no more than
// it wants.
func TestClaimReplyLost(t *testing.T) {
	s := openTest(t, "claimlost")
	hook := &loseHook{}
	s.rdb.AddHook(hook)
	ctx := context.Background()
	var evs []gateway.NewEvent
	for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4"} {
		evs = append(evs, testEvent(id))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := evs[0].ReceivedAt.Add(time.Second)
	// Loads the script, so that the lost call is the one that leases.
	if _, err := s.Claim(ctx, "sub-nobody", now, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	hook.armed.Store(true)
	if _, err := s.Claim(ctx, "sub-a", now, 3, time.Minute); err == nil {
		t.Fatal("the claim whose reply was lost succeeded")
	}
	got, err := s.Claim(ctx, "sub-a", now, 2, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("next Claim(want 2) = %d claims, %v; want 2 of the lost call's", len(got), err)
	}
	rest, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(rest) != 2 {
		t.Fatalf("then Claim = %d claims, %v; want the 2 left (the lost call's third handed back)", len(rest), err)
	}
	ok := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
	for _, c := range append(got, rest...) {
		if err := s.Record(ctx, c, ok); err != nil {
			t.Errorf("Record %s: %v", c.EventID, err)
		}
	}
}
