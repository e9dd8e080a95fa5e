package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
)

var opAt = time.Date(2030, 5, 6, 10, 41, 7, 123000000, time.UTC)

// TestOpEnvelope: an operational event is a CloudEvent of source hookgate,
// subject subscriber/<name>, its transition in data.object.
func TestOpEnvelope(t *testing.T) {
	created := opAt.Add(-time.Minute)
	dead := gateway.OpDead("billing", gateway.OpEventRef{
		ID: "evt_1", Source: "shop", Type: "iimmpact.product.updated", Subject: "product/X",
		Attempts: 1, LastStatus: 401, LastError: "HTTP 401", DeadReason: gateway.DeadPermanent,
		Response: &gateway.AttemptResponse{ContentType: "text/plain", Body: "bad token"},
	}, created, opAt)
	cases := []struct {
		name     string
		op       gateway.OpEvent
		wantType string
		wantObj  string
	}{
		{"dead", dead, gateway.OpDeliveryDead,
			`{"subscriber":"billing","reason":"permanent","at":"2030-05-06T10:41:07.123Z","event":{"id":"evt_1","source":"shop","type":"iimmpact.product.updated","subject":"product/X","attempts":1,"last_status":401,"last_error":"HTTP 401","dead_reason":"permanent","response":{"content_type":"text/plain","body":"bad token"}}}`},
		{"paused", gateway.OpPause("billing", gateway.PauseGone, opAt), gateway.OpPaused,
			`{"subscriber":"billing","reason":"gone","at":"2030-05-06T10:41:07.123Z"}`},
		{"resumed", gateway.OpResume("billing", opAt), gateway.OpResumed,
			`{"subscriber":"billing","at":"2030-05-06T10:41:07.123Z"}`},
		{"breaker opened", gateway.OpBreaker("billing", true, opAt), gateway.OpBreakerOpened,
			`{"subscriber":"billing","at":"2030-05-06T10:41:07.123Z"}`},
		{"breaker closed", gateway.OpBreaker("billing", false, opAt), gateway.OpBreakerClosed,
			`{"subscriber":"billing","at":"2030-05-06T10:41:07.123Z"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, body, err := c.op.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				SpecVersion, ID, Source, Type, Subject, TraceParent string
				Time                                                time.Time
				Data                                                struct{ Object json.RawMessage }
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if got.SpecVersion != "1.0" || got.Source != "hookgate" || got.Type != c.wantType ||
				got.Subject != "subscriber/billing" || !got.Time.Equal(opAt) || got.ID != env.ID || got.ID != c.op.ID() {
				t.Errorf("envelope = %s", body)
			}
			if string(got.Data.Object) != c.wantObj {
				t.Errorf("data.object = %s\nwant          %s", got.Data.Object, c.wantObj)
			}
			if !env.Trace().IsValid() {
				t.Errorf("no trace context")
			}
		})
	}
}

// TestOpIDs: the same transition has the same id whoever builds it; a
// different one (another death after a redelivery, another attempt
// count, another subscriber, a later pause) has another.
func TestOpIDs(t *testing.T) {
	ref := gateway.OpEventRef{ID: "evt_1", Source: "shop", Attempts: 3, DeadReason: gateway.DeadAttempts}
	created := opAt.Add(-time.Hour)
	base := gateway.OpDead("a", ref, created, opAt).ID()
	if again := gateway.OpDead("a", ref, created, opAt.Add(time.Second)).ID(); again != base {
		t.Errorf("the same death recorded later has id %s, want %s", again, base)
	}
	ref4 := ref
	ref4.Attempts = 4
	for name, id := range map[string]string{
		"redelivered":      gateway.OpDead("a", ref, created.Add(time.Minute), opAt).ID(),
		"other attempts":   gateway.OpDead("a", ref4, created, opAt).ID(),
		"other subscriber": gateway.OpDead("b", ref, created, opAt).ID(),
		"pause":            gateway.OpPause("a", gateway.PauseGone, opAt).ID(),
	} {
		if id == base {
			t.Errorf("%s: same id as the first death", name)
		}
	}
	if a, b := gateway.OpPause("a", gateway.PauseAdmin, opAt).ID(), gateway.OpPause("a", gateway.PauseAdmin, opAt.Add(time.Nanosecond)).ID(); a == b {
		t.Errorf("two pauses at different times share id %s", a)
	}
	if !gateway.OpDead("a", gateway.OpEventRef{Source: "hookgate"}, created, opAt).Loops() {
		t.Errorf("a dead operational event does not count as a loop")
	}
	if gateway.OpDead("a", ref, created, opAt).Loops() {
		t.Errorf("a dead upstream event counts as a loop")
	}
}

const opsConfig = ingestConfig + `  ops:
    url: "http://127.0.0.1:1/ops"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    sources: ["hookgate"]
    events: ["hookgate.delivery.dead", "hookgate.subscriber.*"]
  breakers:
    url: "http://127.0.0.1:1/breakers"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    sources: ["hookgate"]
    events: ["hookgate.subscriber.breaker_opened", "hookgate.subscriber.breaker_closed"]
`

func newOpEmitter(t *testing.T, store gateway.Store, yaml string, opts gateway.OpEmitterOptions) (*gateway.OpEmitter, *notifications) {
	t.Helper()
	n := &notifications{}
	in, err := gateway.NewIngester(parseConfig(t, yaml), store, gateway.IngesterOptions{Notify: n.notify})
	if err != nil {
		t.Fatal(err)
	}
	m := gateway.NewOpEmitter(in, opts)
	m.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Stop(ctx)
	})
	return m, n
}

func openBolt(t *testing.T) gateway.Store {
	t.Helper()
	s, err := boltstore.Open(gateway.StoreConfig{Path: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitStats(t *testing.T, m *gateway.OpEmitter, what string, cond func(gateway.OpStats) bool) gateway.OpStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := m.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestOpEmitterRoutes: an operational event is stored with a delivery to
// each subscriber naming hookgate in its sources whose events match, and
// to no other (not "all", which takes every type of every source).
func TestOpEmitterRoutes(t *testing.T) {
	store := openBolt(t)
	m, n := newOpEmitter(t, store, opsConfig, gateway.OpEmitterOptions{})
	op := gateway.OpDead("products", gateway.OpEventRef{ID: "evt_x", Source: "shop", Attempts: 1, DeadReason: gateway.DeadPermanent}, opAt, opAt)
	m.Raise(op)
	m.Raise(gateway.OpBreaker("products", true, opAt))
	waitStats(t, m, "two stored", func(s gateway.OpStats) bool { return s.Stored == 2 })

	rec, err := store.Event(context.Background(), op.ID())
	if err != nil {
		t.Fatal(err)
	}
	var subs []string
	for _, d := range rec.Deliveries {
		subs = append(subs, d.Subscriber)
	}
	if want := []string{"ops"}; !slices.Equal(subs, want) {
		t.Errorf("dead event delivered to %v, want %v", subs, want)
	}
	if rec.Source != "hookgate" || rec.Type != gateway.OpDeliveryDead || rec.Subject != "subscriber/products" {
		t.Errorf("stored %s %s %s", rec.Source, rec.Type, rec.Subject)
	}
	// Once per subscriber per Put: the two may have been stored together.
	if got, want := slices.Compact(n.take()), []string{"breakers", "ops"}; !slices.Equal(got, want) {
		t.Errorf("notified %v, want %v", got, want)
	}

	// The same death raised again (another gateway, a retry) is one event.
	m.Raise(op)
	waitStats(t, m, "a duplicate", func(s gateway.OpStats) bool { return s.Duplicates == 1 })
	// A dead operational event raises nothing.
	m.Raise(gateway.OpDead("ops", gateway.OpEventRef{ID: op.ID(), Source: "hookgate"}, opAt, opAt))
	waitStats(t, m, "a loop", func(s gateway.OpStats) bool { return s.Loops == 1 })
}

// TestOpEmitterOff: without a subscriber naming hookgate, Raise stores
// nothing and queues nothing.
func TestOpEmitterOff(t *testing.T) {
	store := openBolt(t)
	m, _ := newOpEmitter(t, store, ingestConfig, gateway.OpEmitterOptions{})
	m.Raise(gateway.OpBreaker("all", true, opAt))
	st := m.Stats()
	if st.Unrouted != 1 || st.Stored != 0 || st.Queued != 0 {
		t.Errorf("stats = %+v, want one unrouted", st)
	}
	page, err := store.List(context.Background(), gateway.EventFilter{})
	if err != nil || len(page.Events) != 0 {
		t.Errorf("store holds %v (%v), want nothing", page.Events, err)
	}
}

// TestOpEmitterTransitions: one event per transition of the shared state,
// however many gateways (emitters on one store) report it: the second
// breaker to open, a pause of a paused subscriber, a resume of one not
// paused raise nothing; a breaker opening again within BreakerGap raises
// nothing, nor does its closing.
func TestOpEmitterTransitions(t *testing.T) {
	store := openBolt(t)
	a, _ := newOpEmitter(t, store, opsConfig, gateway.OpEmitterOptions{BreakerGap: time.Hour})
	b, _ := newOpEmitter(t, store, opsConfig, gateway.OpEmitterOptions{BreakerGap: time.Hour})
	step := func(m *gateway.OpEmitter, op gateway.OpEvent) {
		t.Helper()
		before := m.Stats()
		m.Raise(op)
		waitStats(t, m, op.Type+" handled", func(s gateway.OpStats) bool {
			return s.Stored+s.Unchanged+s.Suppressed > before.Stored+before.Unchanged+before.Suppressed
		})
	}
	at := opAt
	next := func() time.Time { at = at.Add(time.Second); return at }
	step(a, gateway.OpBreaker("products", true, next()))             // stored
	step(b, gateway.OpBreaker("products", true, next()))             // unchanged: a's is open
	step(b, gateway.OpBreaker("products", false, next()))            // stored
	step(a, gateway.OpBreaker("products", false, next()))            // unchanged
	step(a, gateway.OpBreaker("products", true, next()))             // suppressed: within an hour of a's last
	step(a, gateway.OpBreaker("products", false, next()))            // unchanged: the suppressed opening left it closed
	step(a, gateway.OpPause("products", gateway.PauseGone, next()))  // stored
	step(b, gateway.OpPause("products", gateway.PauseGone, next()))  // unchanged
	step(b, gateway.OpPause("products", gateway.PauseAdmin, next())) // unchanged: a new reason, still paused
	step(b, gateway.OpResume("products", next()))                    // stored
	step(a, gateway.OpResume("products", next()))                    // unchanged
	step(a, gateway.OpResume("all", next()))                         // unchanged: never paused

	sa, sb := a.Stats(), b.Stats()
	if got := sa.Stored + sb.Stored; got != 4 {
		t.Errorf("stored %d events, want 4 (opened, closed, paused, resumed): a %+v, b %+v", got, sa, sb)
	}
	if sa.Suppressed != 1 {
		t.Errorf("suppressed %d, want 1", sa.Suppressed)
	}
	page, err := store.List(context.Background(), gateway.EventFilter{Source: "hookgate"})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range page.Events {
		types = append(types, e.Type)
	}
	want := []string{gateway.OpResumed, gateway.OpPaused, gateway.OpBreakerClosed, gateway.OpBreakerOpened}
	if !slices.Equal(types, want) {
		t.Errorf("stored %v, want %v (newest first)", types, want)
	}
}

// failingStore fails Put and SwapState while down is set, and Put alone
// while putDown is.
type failingStore struct {
	gateway.Store
	latch         gateway.Latcher
	down, putDown atomic.Bool
	swaps         atomic.Int64
}

var errDown = errors.New("store down")

func (f *failingStore) Put(ctx context.Context, evs []gateway.NewEvent) ([]gateway.PutResult, error) {
	if f.down.Load() || f.putDown.Load() {
		return nil, errDown
	}
	return f.Store.Put(ctx, evs)
}

func (f *failingStore) SwapState(ctx context.Context, key, value string) (string, error) {
	if f.down.Load() {
		return "", errDown
	}
	f.swaps.Add(1)
	return f.latch.SwapState(ctx, key, value)
}

// TestOpEmitterPutFailsAfterSwap: a transition whose shared state moved
// but whose event the store refused is stored on a retry, without moving
// the state again (which would read its own move back and raise nothing).
func TestOpEmitterPutFailsAfterSwap(t *testing.T) {
	inner := openBolt(t)
	fs := &failingStore{Store: inner, latch: inner.(gateway.Latcher)}
	fs.putDown.Store(true)
	m, _ := newOpEmitter(t, fs, opsConfig, gateway.OpEmitterOptions{})
	m.Raise(gateway.OpPause("products", gateway.PauseGone, opAt))
	waitStats(t, m, "two failures", func(s gateway.OpStats) bool { return s.Failures >= 2 })
	fs.putDown.Store(false)
	st := waitStats(t, m, "stored", func(s gateway.OpStats) bool { return s.Stored == 1 })
	if n := fs.swaps.Load(); n != 1 || st.Unchanged != 0 {
		t.Errorf("state swapped %d times, %d unchanged; want once, 0", n, st.Unchanged)
	}
}

// TestOpEmitterStopWhileDown: a shutdown while the store is down ends
// within Stop's context; what was queued is dropped and counted.
func TestOpEmitterStopWhileDown(t *testing.T) {
	inner := openBolt(t)
	fs := &failingStore{Store: inner, latch: inner.(gateway.Latcher)}
	fs.down.Store(true)
	n := &notifications{}
	in, err := gateway.NewIngester(parseConfig(t, opsConfig), fs, gateway.IngesterOptions{Notify: n.notify})
	if err != nil {
		t.Fatal(err)
	}
	m := gateway.NewOpEmitter(in, gateway.OpEmitterOptions{})
	m.Start()
	m.Raise(gateway.OpBreaker("products", true, opAt))
	m.Raise(gateway.OpPause("products", gateway.PauseAdmin, opAt))
	waitStats(t, m, "a failure", func(s gateway.OpStats) bool { return s.Failures >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	m.Stop(ctx)
	if st := m.Stats(); st.Dropped != 2 || st.Stored != 0 {
		t.Errorf("after Stop: %+v, want 2 dropped", st)
	}
	m.Raise(gateway.OpResume("products", opAt))
	if st := m.Stats(); st.Dropped != 3 {
		t.Errorf("a Raise after Stop: %+v, want it dropped", st)
	}
}

// TestOpEmitterStoreDown: while the store fails, transitions wait in the
// bounded queue (Raise never blocks; past the bound they are dropped and
// counted) and are stored, in order, once it answers again.
func TestOpEmitterStoreDown(t *testing.T) {
	inner := openBolt(t)
	fs := &failingStore{Store: inner, latch: inner.(gateway.Latcher)}
	fs.down.Store(true)
	m, _ := newOpEmitter(t, fs, opsConfig, gateway.OpEmitterOptions{QueueSize: 2})
	ref := gateway.OpEventRef{ID: "evt_x", Source: "shop", Attempts: 1, DeadReason: gateway.DeadPermanent}
	var ids []string
	for i := range 4 {
		op := gateway.OpDead("products", ref, opAt.Add(time.Duration(i)), opAt)
		ids = append(ids, op.ID())
		m.Raise(op) // the first is taken by the goroutine and retried; two wait; the fourth finds the queue full
		if i == 0 {
			waitStats(t, m, "a failure", func(s gateway.OpStats) bool { return s.Failures >= 1 })
		}
	}
	st := m.Stats()
	if st.Dropped != 1 || st.Queued != 2 || st.QueueMax != 2 {
		t.Errorf("while down: %+v, want 1 dropped, 2 queued of 2", st)
	}
	fs.down.Store(false)
	waitStats(t, m, "three stored", func(s gateway.OpStats) bool { return s.Stored == 3 })
	for _, id := range ids[:3] {
		if _, err := inner.Event(context.Background(), id); err != nil {
			t.Errorf("event %s: %v", id, err)
		}
	}
}

// TestOpEmitterUnconfirmedDead: a dead delivery whose Record reply was
// lost is raised only if the store shows it dead by that attempt.
func TestOpEmitterUnconfirmedDead(t *testing.T) {
	store := openBolt(t)
	m, _ := newOpEmitter(t, store, opsConfig, gateway.OpEmitterOptions{})
	ctx := context.Background()
	var evs []gateway.NewEvent
	for _, id := range []string{"evt_landed", "evt_not_landed"} {
		env := gateway.Envelope{SpecVersion: "1.0", ID: id, Source: "shop", Type: "iimmpact.product.updated", Time: opAt}
		evs = append(evs, gateway.NewEvent{Envelope: env, Body: []byte(`{"id":"` + id + `"}`), ReceivedAt: opAt, Subscribers: []string{"products"}})
	}
	if _, err := store.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	claims, err := store.Claim(ctx, "products", opAt, 2, time.Hour)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim: %d, %v", len(claims), err)
	}
	attemptAt := opAt.Add(time.Second)
	for _, c := range claims {
		op := gateway.OpDead("products", gateway.OpEventRef{ID: c.EventID, Source: "shop", Attempts: 1, LastStatus: 403, DeadReason: gateway.DeadPermanent},
			c.CreatedAt, attemptAt).Unconfirmed()
		if c.EventID == "evt_landed" {
			o := gateway.Outcome{Status: gateway.StatusDead, DeadReason: gateway.DeadPermanent,
				Attempt: gateway.Attempt{At: attemptAt, StatusCode: 403, Error: "HTTP 403"}}
			if err := store.Record(ctx, c, o); err != nil {
				t.Fatal(err)
			}
		}
		m.Raise(op)
	}
	st := waitStats(t, m, "both handled", func(s gateway.OpStats) bool { return s.Stored+s.Unchanged == 2 })
	if st.Stored != 1 || st.Unchanged != 1 {
		t.Errorf("stats %+v, want the landed one stored, the other unchanged", st)
	}
}

// gatedStore holds every Put until open is closed, and counts them.
type gatedStore struct {
	gateway.Store
	open chan struct{}
	puts atomic.Int64
}

func (g *gatedStore) Put(ctx context.Context, evs []gateway.NewEvent) ([]gateway.PutResult, error) {
	g.puts.Add(1)
	<-g.open
	return g.Store.Put(ctx, evs)
}

// TestOpEmitterBatches: a storm of dead deliveries is stored in batches
// of up to 64 events per Put, not one write each.
func TestOpEmitterBatches(t *testing.T) {
	inner := openBolt(t)
	gs := &gatedStore{Store: inner, open: make(chan struct{})}
	m, _ := newOpEmitter(t, gs, opsConfig, gateway.OpEmitterOptions{})
	const n = 200
	for i := range n {
		m.Raise(gateway.OpDead("products", gateway.OpEventRef{ID: "evt_storm", Source: "shop", Attempts: 1, DeadReason: gateway.DeadPermanent},
			opAt.Add(time.Duration(i)), opAt))
	}
	waitFor := func(cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(func() bool { return gs.puts.Load() == 1 })
	close(gs.open)
	st := waitStats(t, m, "all stored", func(s gateway.OpStats) bool { return s.Stored == n })
	// The first Put took what was queued when it started (one at least),
	// the rest came 64 at a time: at most 1 + ceil(199/64).
	if p := gs.puts.Load(); p > 5 {
		t.Errorf("%d events took %d Puts, want at most 5", n, p)
	}
	if st.Dropped != 0 || st.Duplicates != 0 {
		t.Errorf("stats %+v", st)
	}
}
