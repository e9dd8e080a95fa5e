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

// passHook passes every call through: the tests' go-redis hooks embed it
// and override the stages they act on.
type passHook struct{}

func (passHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (passHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (passHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// rerunHook runs the next call of a script named by prefix (its source's
// first words) twice, returning the second run's reply: what the client
// does when the first reply is lost to a reset connection or a read
// timeout after the script ran.
type rerunHook struct {
	passHook
	armed atomic.Bool
	runs  atomic.Int64
}

func (h *rerunHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.take([]redis.Cmder{cmd}) {
			_ = next(ctx, cmd)
		}
		return next(ctx, cmd)
	}
}

func (h *rerunHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.take(cmds) {
			_ = next(ctx, cmds)
		}
		return next(ctx, cmds)
	}
}

func (h *rerunHook) take(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if strings.HasPrefix(c.Name(), "eval") && h.armed.CompareAndSwap(true, false) {
			h.runs.Add(1)
			return true
		}
	}
	return false
}

// TestPutRerun: a Put whose script the client ran twice (the first reply
// lost) answers its new events stored, not duplicates; a later Put of the
// same events, as a provider's retry, answers them duplicates.
func TestPutRerun(t *testing.T) {
	s := openTest(t, "rerun")
	hook := &rerunHook{}
	s.rdb.AddHook(hook)
	ctx := context.Background()
	// The first call loads the script (NOSCRIPT, then SCRIPT LOAD): the
	// re-run is of a script the server has.
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_0")}); err != nil {
		t.Fatal(err)
	}
	evs := []gateway.NewEvent{testEvent("evt_1"), testEvent("evt_2"), testEvent("evt_1")}
	hook.armed.Store(true)
	res, err := s.Put(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if hook.runs.Load() != 1 {
		t.Fatal("the script was not run twice")
	}
	for i, want := range []bool{false, false, true} {
		if res[i].Duplicate != want {
			t.Errorf("re-run Put, event %d: duplicate %v, want %v", i, res[i].Duplicate, want)
		}
	}
	res, err = s.Put(ctx, evs[:2])
	if err != nil || !res[0].Duplicate || !res[1].Duplicate {
		t.Errorf("the provider's retry = %+v, %v; want both duplicates", res, err)
	}
}

// TestRecordRerun: a Record whose script the client ran twice (the first
// reply lost) succeeds, recorded once; another Record on the same lease
// still answers ErrLeaseLost.
func TestRecordRerun(t *testing.T) {
	s := openTest(t, "rerunrec")
	hook := &rerunHook{}
	s.rdb.AddHook(hook)
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_0"), testEvent("evt_1")}); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt.Add(time.Second)
	claims, err := s.Claim(ctx, "sub-a", now, 2, time.Minute)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim = %d, %v", len(claims), err)
	}
	ok := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
	// The first Record loads the script: the re-run is of one the server has.
	if err := s.Record(ctx, claims[0], ok); err != nil {
		t.Fatal(err)
	}
	c := claims[1]
	hook.armed.Store(true)
	gone := gateway.Outcome{Status: gateway.StatusDead, DeadReason: gateway.DeadGone,
		Attempt: gateway.Attempt{At: now, StatusCode: 410, Error: "HTTP 410"}}
	if err := s.Record(ctx, c, gone); err != nil {
		t.Errorf("re-run Record: %v, want success", err)
	}
	if hook.runs.Load() != 1 {
		t.Fatal("the script was not run twice")
	}
	rec, err := s.Event(ctx, c.EventID)
	if err != nil || len(rec.Deliveries) != 1 || len(rec.Deliveries[0].History) != 1 {
		t.Fatalf("Event = %+v, %v; want one delivery with one attempt", rec, err)
	}
	if d := rec.Deliveries[0]; d.Status != gateway.StatusDead || d.DeadReason != gateway.DeadGone {
		t.Errorf("re-run Record left %s, reason %q; want dead, gone", d.Status, d.DeadReason)
	}
	if err := s.Record(ctx, c, ok); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("a second Record on the lease: %v, want ErrLeaseLost", err)
	}
}

// TestClaimRerun: a Claim whose script the client ran twice (the first
// reply lost) answers what the first run leased, and leases nothing more:
// the rest stays due for the next claim.
func TestClaimRerun(t *testing.T) {
	s := openTest(t, "rerunclaim")
	hook := &rerunHook{}
	s.rdb.AddHook(hook)
	ctx := context.Background()
	var evs []gateway.NewEvent
	for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4"} {
		evs = append(evs, testEvent(id))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt.Add(time.Second)
	// The first claim loads the script: the re-run is of one the server has.
	if _, err := s.Claim(ctx, "sub-a", now, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	hook.armed.Store(true)
	got, err := s.Claim(ctx, "sub-a", now, 2, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("re-run Claim = %d claims, %v; want 2", len(got), err)
	}
	if hook.runs.Load() != 1 {
		t.Fatal("the script was not run twice")
	}
	rest, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(rest) != 1 {
		t.Fatalf("next Claim = %d claims, %v; want the 1 left (the first run's leases handed out, not stranded)", len(rest), err)
	}
	ok := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
	for _, c := range append(got, rest...) {
		if err := s.Record(ctx, c, ok); err != nil {
			t.Errorf("Record %s: %v", c.EventID, err)
		}
	}
}
