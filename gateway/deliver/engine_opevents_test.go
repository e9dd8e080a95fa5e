package deliver

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// opEnvelope is what an ops subscriber reads of an operational event.
type opEnvelope struct {
	ID, Source, Type, Subject string
	Data                      struct {
		Object struct {
			Subscriber string
			Reason     string
			Event      *gateway.OpEventRef
		}
	}
}

// opsSetup is a gateway's engine side of the operational events: the
// subscriber "ops" (sources [hookgate]) and "all" (events ["**"], all
// sources), each a real sink answering 200, and the emitter that stores
// the engine's transitions through an ingester on st.
type opsSetup struct {
	ops, all *sink
	subs     map[string]*gateway.SubscriberConfig
	emitter  *gateway.OpEmitter
	mu       sync.Mutex
}

// newOpsSetup adds ops and all to subs, and makes an emitter on st for
// them. opsReply answers the ops subscriber (nil: 200).
func newOpsSetup(t *testing.T, st gateway.Store, subs map[string]*gateway.SubscriberConfig, opsReply func(request, int) (int, http.Header)) *opsSetup {
	t.Helper()
	s := &opsSetup{ops: newSink(t, opsReply), all: newSink(t, nil), subs: subs}
	all, _ := gateway.ParsePattern("**")
	for name, sub := range subs {
		if sub.Patterns == nil {
			sub.Patterns = []gateway.Pattern{all}
		}
		sub.Name = name
	}
	ops := testSub("ops", s.ops.URL)
	ops.Sources = []string{gateway.OpSource}
	for _, p := range []string{gateway.OpDeliveryDead, "hookgate.subscriber.*"} {
		pat, err := gateway.ParsePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		ops.Patterns = append(ops.Patterns, pat)
	}
	ops.Retry.MaxAttempts = 1
	subs["ops"] = ops
	everything := testSub("all", s.all.URL)
	everything.Patterns = []gateway.Pattern{all}
	subs["all"] = everything
	s.emitter = newTestEmitter(t, st, subs)
	return s
}

func newTestEmitter(t *testing.T, st gateway.Store, subs map[string]*gateway.SubscriberConfig) *gateway.OpEmitter {
	t.Helper()
	in, err := gateway.NewIngester(&gateway.Config{Subscribers: subs}, st, gateway.IngesterOptions{Logger: testOptions(t).Logger})
	if err != nil {
		t.Fatal(err)
	}
	m := gateway.NewOpEmitter(in, gateway.OpEmitterOptions{Logger: testOptions(t).Logger})
	m.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Stop(ctx)
	})
	return m
}

// received decodes what the sink got, in order.
func opsReceived(t *testing.T, sk *sink) []opEnvelope {
	t.Helper()
	sk.mu.Lock()
	defer sk.mu.Unlock()
	var out []opEnvelope
	for _, r := range sk.reqs {
		var env opEnvelope
		if err := json.Unmarshal(r.Body, &env); err != nil {
			t.Fatalf("ops subscriber got %s: %v", r.Body, err)
		}
		out = append(out, env)
	}
	return out
}

func opsTypes(t *testing.T, sk *sink) []string {
	var types []string
	for _, e := range opsReceived(t, sk) {
		types = append(types, e.Type)
	}
	return types
}

// testOpDead: a subscriber answering 401 has the delivery dead, and a
// hookgate.delivery.dead event reaches the subscriber whose sources name
// hookgate, signed as usual (the sink verifies), saying which event died,
// after how many attempts, the last status and the response excerpt; the
// subscriber of every event ("**", all sources) does not get it.
func testOpDead(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, func(request, int) (int, http.Header) {
		return http.StatusUnauthorized, http.Header{"Content-Type": {"text/plain"}}
	})
	ids := putEvents(t, st, 1, time.Now(), "a")
	subs := map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}
	ops := newOpsSetup(t, st, subs, nil)
	o := testOptions(t)
	o.Ops = ops.emitter
	startEngine(t, st, subs, o)

	waitFor(t, "dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	waitFor(t, "the ops subscriber told", func() bool { return ops.ops.total() == 1 })
	got := opsReceived(t, ops.ops)[0]
	if got.Source != "hookgate" || got.Type != gateway.OpDeliveryDead || got.Subject != "subscriber/a" ||
		got.Data.Object.Subscriber != "a" || got.Data.Object.Reason != "permanent" {
		t.Errorf("ops got %+v", got)
	}
	ev := got.Data.Object.Event
	if ev == nil || ev.ID != ids[0] || ev.Type != "src.product.updated" || ev.Subject != "product/0" || ev.Source != "src" ||
		ev.Attempts != 1 || ev.LastStatus != 401 || ev.DeadReason != gateway.DeadPermanent ||
		ev.Response == nil || ev.Response.ContentType != "text/plain" {
		t.Errorf("data.object.event = %+v", ev)
	}
	waitFor(t, "the event delivered to ops", statusIs(t, st, "ops", gateway.StatusDelivered, got.ID))
	if n := ops.all.total(); n != 0 {
		t.Errorf("the subscriber of every event (no sources) got %d requests, want 0", n)
	}
}

// testOpGonePausedResumed: a 410 pauses the subscriber, and the ops
// subscriber is told (paused, reason gone, and the dead delivery); the
// admin API's resume (SetPaused, then PauseChanged) tells it resumed.
func testOpGonePausedResumed(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, func(request, int) (int, http.Header) { return http.StatusGone, nil })
	putEvents(t, st, 1, time.Now(), "a")
	subs := map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}
	ops := newOpsSetup(t, st, subs, nil)
	o := testOptions(t)
	o.Ops = ops.emitter
	e := startEngine(t, st, subs, o)

	waitFor(t, "paused and dead reported", func() bool { return ops.ops.total() == 2 })
	types := opsTypes(t, ops.ops)
	slices.Sort(types)
	if want := []string{gateway.OpDeliveryDead, gateway.OpPaused}; !slices.Equal(types, want) {
		t.Fatalf("ops got %v, want %v", types, want)
	}
	for _, env := range opsReceived(t, ops.ops) {
		if env.Type == gateway.OpPaused && env.Data.Object.Reason != "gone" {
			t.Errorf("paused reason = %q, want gone", env.Data.Object.Reason)
		}
	}
	if err := st.SetPaused(context.Background(), "a", gateway.PauseNone); err != nil {
		t.Fatal(err)
	}
	e.PauseChanged("a", gateway.PauseNone)
	waitFor(t, "resumed reported", func() bool { return ops.ops.total() == 3 })
	if got := opsReceived(t, ops.ops)[2]; got.Type != gateway.OpResumed || got.Subject != "subscriber/a" {
		t.Errorf("third event = %+v, want resumed", got)
	}
	// A second resume changes nothing and reports nothing.
	e.PauseChanged("a", gateway.PauseNone)
	waitFor(t, "the second resume handled", func() bool { return ops.emitter.Stats().Unchanged == 1 })
	if n := ops.ops.total(); n != 3 {
		t.Errorf("ops got %d events, want 3", n)
	}
}

// testOpBreaker: the breaker opening and closing again each reach the ops
// subscriber once.
func testOpBreaker(t *testing.T, bk backend) {
	st := bk.open(t)
	var mu sync.Mutex
	up := false
	sk := newSink(t, func(request, int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return http.StatusOK, nil
		}
		return http.StatusServiceUnavailable, nil
	})
	ids := putEvents(t, st, 3, time.Now(), "a")
	cfg := testSub("a", sk.URL)
	cfg.Breaker.ConsecutiveFailures = 2
	cfg.Retry.MaxAttempts = 1000
	subs := map[string]*gateway.SubscriberConfig{"a": cfg}
	ops := newOpsSetup(t, st, subs, nil)
	o := testOptions(t)
	o.Ops = ops.emitter
	startEngine(t, st, subs, o)

	waitFor(t, "breaker_opened reported", func() bool { return ops.ops.total() == 1 })
	mu.Lock()
	up = true
	mu.Unlock()
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	waitFor(t, "breaker_closed reported", func() bool { return ops.ops.total() == 2 })
	if got, want := opsTypes(t, ops.ops), []string{gateway.OpBreakerOpened, gateway.OpBreakerClosed}; !slices.Equal(got, want) {
		t.Errorf("ops got %v, want %v", got, want)
	}
}

// testOpNoLoop: when the ops subscriber itself refuses (401), the dead
// delivery of an operational event raises no further event.
func testOpNoLoop(t *testing.T, bk backend) {
	st := bk.open(t)
	refuse := func(request, int) (int, http.Header) { return http.StatusUnauthorized, nil }
	sk := newSink(t, refuse)
	ids := putEvents(t, st, 1, time.Now(), "a")
	subs := map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}
	ops := newOpsSetup(t, st, subs, refuse)
	o := testOptions(t)
	o.Ops = ops.emitter
	startEngine(t, st, subs, o)

	waitFor(t, "a's delivery dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	waitFor(t, "the dead event refused by ops", func() bool { return ops.ops.total() == 1 })
	opID := opsReceived(t, ops.ops)[0].ID
	waitFor(t, "its delivery dead", statusIs(t, st, "ops", gateway.StatusDead, opID))
	waitFor(t, "the loop counted", func() bool { return ops.emitter.Stats().Loops == 1 })
	page, err := st.List(context.Background(), gateway.EventFilter{Source: gateway.OpSource})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 {
		t.Errorf("%d operational events stored, want 1: %+v", len(page.Events), page.Events)
	}
}

// testOpTwoEngines: two gateways on one store, both breakers opening on
// the same failing subscriber, and both dying deliveries: one event per
// transition reaches the ops subscriber, not one per gateway.
func testOpTwoEngines(t *testing.T, bk backend) {
	stA, stB := bk.shared(t)
	var mu sync.Mutex
	up := false
	sk := newSink(t, func(request, int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return http.StatusOK, nil
		}
		return http.StatusServiceUnavailable, nil
	})
	ids := putEvents(t, stA, 8, time.Now(), "a")
	mk := func() *gateway.SubscriberConfig {
		cfg := testSub("a", sk.URL)
		cfg.Breaker.ConsecutiveFailures = 1
		cfg.Retry.MaxAttempts = 1000
		return cfg
	}
	subsA := map[string]*gateway.SubscriberConfig{"a": mk()}
	opsA := newOpsSetup(t, stA, subsA, nil)
	subsB := map[string]*gateway.SubscriberConfig{"a": mk()}
	for name, sub := range subsA {
		if name != "a" {
			subsB[name] = sub // the same ops and all subscribers
		}
	}
	subsB["a"].Patterns = subsA["a"].Patterns
	subsB["a"].Name = "a"
	emB := newTestEmitter(t, stB, subsB)
	oa, ob := testOptions(t), testOptions(t)
	oa.Ops, ob.Ops = opsA.emitter, emB
	ea := startEngine(t, stA, subsA, oa)
	eb := startEngine(t, stB, subsB, ob)

	waitFor(t, "both breakers open", func() bool {
		return opsA.emitter.Stats().Raised+emB.Stats().Raised >= 2 &&
			opsA.emitter.Stats().Stored+emB.Stats().Stored >= 1
	})
	mu.Lock()
	up = true
	mu.Unlock()
	waitFor(t, "delivered", statusIs(t, stA, "a", gateway.StatusDelivered, ids...))
	waitFor(t, "breakers closed", func() bool { return ea.Breaker("a") == "closed" || eb.Breaker("a") == "closed" })
	waitFor(t, "the closing reported", func() bool { return slices.Contains(opsTypes(t, opsA.ops), gateway.OpBreakerClosed) })
	// Let both emitters finish what they hold before counting.
	waitFor(t, "emitters idle", func() bool { return opsA.emitter.Stats().Queued == 0 && emB.Stats().Queued == 0 })
	time.Sleep(50 * time.Millisecond) // a late duplicate would show; not an assertion on time
	count := map[string]int{}
	for _, typ := range opsTypes(t, opsA.ops) {
		count[typ]++
	}
	if count[gateway.OpBreakerOpened] != 1 || count[gateway.OpBreakerClosed] != 1 {
		t.Errorf("ops got %v, want one breaker_opened and one breaker_closed", count)
	}
	t.Logf("gateway a: %+v; gateway b: %+v", opsA.emitter.Stats(), emB.Stats())
}

// replyLostStore records every attempt but answers Record with an error,
// as a store whose reply was lost after the write landed would.
type replyLostStore struct{ gateway.Store }

func (s replyLostStore) Record(ctx context.Context, c gateway.Claim, o gateway.Outcome) error {
	if err := s.Store.Record(ctx, c, o); err != nil {
		return err
	}
	return errDown
}

// testOpDeadReplyLost: a dead delivery whose Record reply was lost is
// still reported, once the emitter has read it back dead.
func testOpDeadReplyLost(t *testing.T, bk backend) {
	inner := bk.open(t)
	st := replyLostStore{inner}
	sk := newSink(t, func(request, int) (int, http.Header) { return http.StatusForbidden, nil })
	ids := putEvents(t, inner, 1, time.Now(), "a")
	subs := map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}
	ops := newOpsSetup(t, inner, subs, nil)
	o := testOptions(t)
	o.Ops = ops.emitter
	startEngine(t, st, subs, o)

	waitFor(t, "dead", statusIs(t, inner, "a", gateway.StatusDead, ids...))
	waitFor(t, "the ops subscriber told", func() bool { return ops.ops.total() == 1 })
	if got := opsReceived(t, ops.ops)[0]; got.Type != gateway.OpDeliveryDead || got.Data.Object.Event.ID != ids[0] || got.Data.Object.Event.LastStatus != 403 {
		t.Errorf("ops got %+v", got)
	}
}
