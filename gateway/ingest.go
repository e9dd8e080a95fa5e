package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// IngestResult tells what Ingest made of one authentic request.
type IngestResult struct {
	Stored     int  // events newly stored
	Duplicates int  // events already stored within the dedupe window
	Stale      int  // events older than the source's max_event_age: acknowledged, not stored
	Test       bool // the provider's registration test: nothing stored
}

// Ingester runs the ingest flow, free of HTTP: authenticate and decode a
// request with the source's provider, wrap each event in its envelope, route
// it, store the batch in one Put, then wake the delivery workers of every
// subscriber that got a new delivery.
//
// The config is held behind an atomic pointer so that SetConfig (a reload)
// never blocks Ingest; a request runs to its end under the config it started
// with. Ingest is safe for concurrent use.
type Ingester struct {
	store  Store
	notify func(subscriber string)
	log    *slog.Logger
	now    func() time.Time

	snap atomic.Pointer[ingestSnapshot]

	// counters outlive reloads: a source kept across a reload keeps its
	// counts, so that metrics stay monotonic.
	countersMu sync.Mutex
	counters   map[string]*sourceCounters

	observer atomic.Pointer[ingestObserverRef] // nil: none

	// tracer makes the verify and store spans, children of the request's
	// span in Ingest's context; nil: tracing off, and no span work at all.
	tracer trace.Tracer
}

// Results of an event, as an IngestObserver is told them.
const (
	EventStored    = "stored"    // newly stored
	EventDuplicate = "duplicate" // already stored within the dedupe window
	EventStale     = "stale"     // older than the source's max_event_age: acknowledged, dropped
)

// IngestObserver is told, for metrics, what became of each event of an
// authentic request, and of filter errors, so that metrics live outside
// this package. Its methods are called on the ingest path by every request
// at once: they must be safe for concurrent use, cheap, and must not block.
type IngestObserver interface {
	// IngestEvent reports one event of a configured source: its type as
	// the provider gave it (unknown types pass through, so the observer
	// must bound what it keeps per type) and its result (EventStored,
	// EventDuplicate or EventStale), once the store has answered or the
	// event was dropped as stale. Registration tests are not events.
	IngestEvent(source, typ, result string)
	// FilterError reports that a subscriber's filter failed at run time
	// on an event (the event then counts as not matching).
	FilterError(subscriber string)
}

type ingestObserverRef struct{ IngestObserver }

// SetObserver makes o the Ingester's observer from the next request on;
// nil removes it.
func (in *Ingester) SetObserver(o IngestObserver) {
	if o == nil {
		in.observer.Store(nil)
		return
	}
	in.observer.Store(&ingestObserverRef{o})
}

// FilterError counts a run-time error of subscriber's filter (a missing
// field, a type mismatch): the hook for the filter evaluation, which
// treats the event as not matching and calls this once per error. It
// never blocks.
func (in *Ingester) FilterError(subscriber string) {
	if o := in.observer.Load(); o != nil {
		o.FilterError(subscriber)
	}
}

// IngestCounts are one source's ingest counters since the process started.
type IngestCounts struct {
	Stored     int64 // events newly stored
	Duplicates int64 // upstream redeliveries recognized
	Stale      int64 // events refused by max_event_age (replays)
	Tests      int64 // registration tests answered
}

type sourceCounters struct {
	stored, duplicates, stale, tests atomic.Int64
	// testLog lets one registration-test log line through per minute: the
	// test is unauthenticated in effect (its key is public), so anyone can
	// send it in a loop.
	testLog logEvery
}

// IngesterOptions are the Ingester's optional parts.
type IngesterOptions struct {
	// Notify is called once per subscriber that got at least one new
	// delivery, after the store confirmed it. It must not block.
	Notify func(subscriber string)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now gives the receipt time of requests that carry none; default
	// time.Now.
	Now func() time.Time
	// Tracer, if set, makes a "verify" and a "store" span per request, as
	// children of the span in Ingest's context. Nil: tracing is off.
	Tracer trace.Tracer
}

// NewIngester returns an Ingester storing into store under cfg.
func NewIngester(cfg *Config, store Store, opts IngesterOptions) (*Ingester, error) {
	in := &Ingester{store: store, notify: opts.Notify, log: opts.Logger, now: opts.Now,
		counters: map[string]*sourceCounters{}, tracer: opts.Tracer}
	if in.notify == nil {
		in.notify = func(string) {}
	}
	if in.log == nil {
		in.log = slog.Default()
	}
	if in.now == nil {
		in.now = time.Now
	}
	if err := in.SetConfig(cfg); err != nil {
		return nil, err
	}
	return in, nil
}

// SetConfig swaps in a new config, for a reload. Requests already running
// finish under the old one. It fails, keeping the old config, if a source
// names a provider that is not built in.
func (in *Ingester) SetConfig(cfg *Config) error {
	if cfg == nil {
		return errors.New("set config: nil config")
	}
	s, err := newIngestSnapshot(cfg)
	if err != nil {
		return err
	}
	in.countersMu.Lock()
	for name, src := range s.sources {
		c, ok := in.counters[name]
		if !ok {
			c = &sourceCounters{}
			in.counters[name] = c
		}
		src.counters = c
	}
	in.countersMu.Unlock()
	in.snap.Store(s)
	return nil
}

// Config returns the config in force. Callers must not modify it.
func (in *Ingester) Config() *Config { return in.snap.Load().cfg }

// HasSource reports whether a source of that name is configured.
func (in *Ingester) HasSource(name string) bool {
	_, ok := in.snap.Load().sources[name]
	return ok
}

// TestRequests counts the registration tests received since start.
func (in *Ingester) TestRequests() int64 {
	var n int64
	for _, c := range in.Counts() {
		n += c.Tests
	}
	return n
}

// Counts returns every source's counters, by source name, including
// sources a reload has removed.
func (in *Ingester) Counts() map[string]IngestCounts {
	in.countersMu.Lock()
	defer in.countersMu.Unlock()
	out := make(map[string]IngestCounts, len(in.counters))
	for name, c := range in.counters {
		out[name] = IngestCounts{Stored: c.stored.Load(), Duplicates: c.duplicates.Load(),
			Stale: c.stale.Load(), Tests: c.tests.Load()}
	}
	return out
}

// Ingest authenticates, decodes and durably stores the events of one request
// to /webhooks/{source}. Its errors wrap ErrUnknownSource, ErrSignature,
// ErrPayload (with the provider's short reason) or ErrUnavailable; on any
// error the caller must assume nothing was stored.
func (in *Ingester) Ingest(ctx context.Context, source string, req Request) (IngestResult, error) {
	snap := in.snap.Load()
	src, ok := snap.sources[source]
	if !ok {
		return IngestResult{}, fmt.Errorf("ingest %q: %w", source, ErrUnknownSource)
	}
	source = src.name
	if req.ReceivedAt.IsZero() {
		req.ReceivedAt = in.now()
	}
	var span trace.Span
	if in.tracer != nil {
		_, span = in.tracer.Start(ctx, "verify", trace.WithAttributes(
			attribute.String("hookgate.source", source), attribute.String("hookgate.provider", src.providerName)))
	}
	batch, err := src.provider.Decode(req, src.secrets)
	if span != nil {
		if err == nil {
			span.SetAttributes(attribute.Int("hookgate.events", len(batch.Events)), attribute.Bool("hookgate.test", batch.Test))
		}
		endSpan(span, err)
	}
	if err != nil {
		return IngestResult{}, fmt.Errorf("ingest %s: %w", source, err)
	}
	if batch.Test {
		src.counters.tests.Add(1)
		if n, ok := src.counters.testLog.allow(req.ReceivedAt, time.Minute); ok {
			in.log.Info("registration test received", "source", source, "provider", src.providerName, "unlogged", n)
		}
		return IngestResult{Test: true}, nil
	}
	var res IngestResult
	evs := batch.Events
	obs := in.observer.Load()
	if src.maxAge > 0 {
		oldest := req.ReceivedAt.Add(-src.maxAge)
		if obs != nil {
			for _, ev := range evs {
				if isStale(ev, oldest) {
					obs.IngestEvent(source, ev.Type, EventStale)
				}
			}
		}
		evs, res.Stale = dropStale(evs, oldest)
		src.counters.stale.Add(int64(res.Stale))
	}
	if len(evs) == 0 {
		return res, nil
	}

	// Every event carries a trace context (SPEC 4): the request's, else a
	// new trace started here, so a subscriber's trace has a root to join
	// even with tracing off.
	tc := req.Trace
	if !tc.IsValid() {
		tc = NewTrace()
	}
	events := make([]NewEvent, len(evs))
	for i, ev := range evs {
		env := NewEnvelope(source, ev, req.ReceivedAt)
		env.SetTrace(tc)
		body, err := EncodeEnvelope(env)
		if err != nil {
			// Only invalid JSON in Object/Previous gets here: a provider
			// bug, but the request is still not a usable payload.
			return IngestResult{}, fmt.Errorf("ingest %s: encode envelope: %w: %v", source, ErrPayload, err)
		}
		events[i] = NewEvent{
			Envelope:    env,
			Body:        body,
			ReceivedAt:  req.ReceivedAt,
			Subscribers: src.routes(snap.cfg, source, env.Type),
			Ordered:     snap.ordered, // the store orders only those among Subscribers
		}
		if snap.filters != nil {
			events[i].Subscribers = in.filter(snap, events[i].Subscribers, env)
		}
	}

	span = nil
	if in.tracer != nil {
		_, span = in.tracer.Start(ctx, "store", trace.WithAttributes(attribute.Int("hookgate.events", len(events))))
	}
	results, err := in.store.Put(ctx, events)
	if err == nil && len(results) != len(events) {
		err = fmt.Errorf("store returned %d results for %d events", len(results), len(events))
	}
	if span != nil {
		endSpan(span, err)
	}
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return IngestResult{}, fmt.Errorf("ingest %s: %w", source, err)
		}
		return IngestResult{}, fmt.Errorf("ingest %s: %w: %w", source, ErrUnavailable, err)
	}

	// Distinct subscribers to wake: few, so a slice beats a map, and one on
	// the stack costs no allocation for the usual handful.
	var wokenBuf [8]string
	woken := wokenBuf[:0]
	for i, r := range results {
		if obs != nil {
			result := EventStored
			if r.Duplicate {
				result = EventDuplicate
			}
			obs.IngestEvent(source, events[i].Envelope.Type, result)
		}
		if r.Duplicate {
			res.Duplicates++
			continue
		}
		res.Stored++
		for _, sub := range events[i].Subscribers {
			if !contains(woken, sub) {
				woken = append(woken, sub)
			}
		}
	}
	src.counters.stored.Add(int64(res.Stored))
	src.counters.duplicates.Add(int64(res.Duplicates))
	for _, sub := range woken {
		in.notify(sub)
	}
	return res, nil
}

// endSpan ends one of Ingest's spans, marked failed by err's sentinel: a
// category, never the message, which may hold an address or a provider's
// words about the body.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, ErrorKind(err))
	}
	span.End()
}

// ErrorKind names err's sentinel for spans and metrics: "signature",
// "payload", "unavailable", ...; "other" for an error with none.
func ErrorKind(err error) string {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return "other"
}

var errorKinds = []struct {
	err  error
	kind string
}{
	{ErrSignature, "signature"},
	{ErrPayload, "payload"},
	{ErrUnknownSource, "unknown_source"},
	{ErrTooLarge, "too_large"},
	{ErrOverloaded, "overloaded"},
	{ErrUnavailable, "unavailable"},
	{ErrInvalid, "invalid"},
	{context.DeadlineExceeded, "timeout"},
	{context.Canceled, "canceled"},
}

// dropStale returns the events whose provider time is at or after oldest
// (events without one are kept) and how many it dropped. It filters in
// place: the batch is the caller's own.
func dropStale(evs []Event, oldest time.Time) ([]Event, int) {
	kept := evs[:0]
	for _, ev := range evs {
		if isStale(ev, oldest) {
			continue
		}
		kept = append(kept, ev)
	}
	return kept, len(evs) - len(kept)
}

// isStale reports whether ev's provider time is before oldest; an event
// without one is never stale.
func isStale(ev Event, oldest time.Time) bool {
	return !ev.Time.IsZero() && ev.Time.Before(oldest)
}

// logEvery lets one log line through per period and counts the rest.
type logEvery struct {
	next       atomic.Int64 // unix nanoseconds before which lines are counted, not logged
	suppressed atomic.Int64
}

// allow reports whether a line may be logged at now, and how many were
// held back since the last one.
func (l *logEvery) allow(now time.Time, period time.Duration) (int64, bool) {
	next := l.next.Load()
	if now.UnixNano() < next || !l.next.CompareAndSwap(next, now.Add(period).UnixNano()) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ingestSnapshot is everything Ingest needs from one config, computed once
// per load so the hot path neither reveals secrets nor allocates for them.
type ingestSnapshot struct {
	cfg     *Config
	sources map[string]*ingestSource
	// filters are the subscribers that have a filter; nil when none has,
	// so that ingest without filters does no filter work at all.
	filters map[string]*ingestFilter
	// ordered names the subscribers with ordering: subject, sorted; nil
	// when none has.
	ordered []string
	// wantsOps: some subscriber names OpSource in its sources, so the
	// gateway's own events are raised (OpEmitter.Raise); false, they cost
	// nothing.
	wantsOps bool
}

// maxCachedRoutes bounds the per-source cache of routes for event types the
// provider does not list: types come from authentic requests only, but an
// upstream inventing types must not grow memory without end.
const maxCachedRoutes = 4096

type ingestSource struct {
	// name is the config's own copy of the source name: callers may pass a
	// string aliasing a reused request buffer, and envelopes must not keep it.
	name         string
	providerName string
	provider     Provider
	secrets      [][]byte
	maxAge       time.Duration // max_event_age; 0: off

	// known is filled at load from the provider's KnownTypes and never
	// written again, so lookups need no lock.
	known map[string][]string

	mu    sync.RWMutex
	extra map[string][]string

	counters *sourceCounters
}

func newIngestSnapshot(cfg *Config) (*ingestSnapshot, error) {
	s := &ingestSnapshot{cfg: cfg, sources: make(map[string]*ingestSource, len(cfg.Sources))}
	filters, err := ingestFilters(cfg)
	if err != nil {
		return nil, err
	}
	s.filters = filters
	for _, name := range slices.Sorted(maps.Keys(cfg.Subscribers)) {
		if cfg.Subscribers[name].Ordering == OrderingSubject {
			s.ordered = append(s.ordered, name)
		}
		if slices.Contains(cfg.Subscribers[name].Sources, OpSource) {
			s.wantsOps = true
		}
	}
	for name, sc := range cfg.Sources {
		p, err := LookupProvider(sc.Provider)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", name, err)
		}
		src := &ingestSource{
			name:         name,
			providerName: sc.Provider,
			provider:     p,
			secrets:      make([][]byte, len(sc.Secrets)),
			maxAge:       sc.MaxEventAge,
			known:        map[string][]string{},
			extra:        map[string][]string{},
		}
		for i, sec := range sc.Secrets {
			src.secrets[i] = []byte(sec.Reveal())
		}
		if sp, ok := p.(Sampler); ok {
			for _, typ := range sp.KnownTypes() {
				src.known[typ] = cfg.Routes(name, typ)
			}
		}
		s.sources[name] = src
	}
	return s, nil
}

// routes returns the subscribers an event of type typ reaches, from the
// cache when it can. The returned slice is shared: callers must not modify it.
func (s *ingestSource) routes(cfg *Config, source string, typ string) []string {
	if subs, ok := s.known[typ]; ok {
		return subs
	}
	s.mu.RLock()
	subs, ok := s.extra[typ]
	s.mu.RUnlock()
	if ok {
		return subs
	}
	subs = cfg.Routes(source, typ)
	s.mu.Lock()
	if len(s.extra) < maxCachedRoutes {
		s.extra[typ] = subs
	}
	s.mu.Unlock()
	return subs
}
