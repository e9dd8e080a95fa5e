package routes

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
)

// Label bounds: every label value below comes from the config or from a
// fixed list, never from a request unchecked.
const (
	// unknownSource labels requests for a source not in the config; it is
	// not a valid source name, so it cannot collide with one.
	unknownSource = "_unknown"
	// maxTypesPerSource caps the distinct event types counted per source:
	// providers pass unknown types through, and an upstream inventing
	// types must not grow the series without end. The rest count as
	// otherType.
	maxTypesPerSource = 100
	otherType         = "other"
	// maxTypeLen: a longer type (no provider's is) counts as otherType.
	maxTypeLen = 128
)

// countedCodes are the ingest answers with a series of their own; any
// other code counts as "other".
var countedCodes = [...]int{200, 400, 401, 404, 413, 503}

// Buckets, in seconds. An attempt is bounded by the subscriber's timeout
// (10s by default, minutes at most); end to end runs from receipt through
// retries and backoff to the 2xx, so up to an hour is worth telling apart.
var (
	attemptBuckets  = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	endToEndBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600}
)

// metrics holds the families counted as things happen, and implements the
// hooks that count them: gateway.IngestObserver, deliver.Observer, and
// the ingest handler's request counter. Each source's and subscriber's
// series are looked up once and kept (copy-on-write maps read without a
// lock), so the hot path does no label hashing.
type metrics struct {
	requests       *prometheus.CounterVec   // source, code
	events         *prometheus.CounterVec   // source, type, result
	attempts       *prometheus.CounterVec   // subscriber, outcome
	attemptSeconds *prometheus.HistogramVec // subscriber
	endToEnd       *prometheus.HistogramVec // subscriber
	filterErrors   *prometheus.CounterVec   // subscriber
	deadReasons    *prometheus.CounterVec   // subscriber, reason

	sources     cowMap[*sourceMetrics]
	subscribers cowMap[*subscriberMetrics]
}

var (
	_ gateway.IngestObserver = (*metrics)(nil)
	_ deliver.Observer       = (*metrics)(nil)
)

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_ingest_requests_total",
			Help: "Ingest requests answered, by source (" + unknownSource + " for a source not configured) and status code (200, 400, 401, 404, 413, 503, other).",
		}, []string{"source", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_ingest_events_total",
			Help: "Events of authentic requests, by source, type (at most " + strconv.Itoa(maxTypesPerSource) + " per source, the rest as " + otherType + ") and result: stored, duplicate (an upstream redelivery), stale (older than max_event_age).",
		}, []string{"source", "type", "result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_delivery_attempts_total",
			Help: "Delivery attempts made by this process, by subscriber and what they led to (delivered, retrying, dead).",
		}, []string{"subscriber", "outcome"}),
		attemptSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookgate_delivery_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, request sent to response read, by subscriber.",
			Buckets: attemptBuckets,
		}, []string{"subscriber"}),
		endToEnd: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookgate_delivery_end_to_end_seconds",
			Help:    "From an event's receipt (or manual redelivery) to its delivery's 2xx, by subscriber.",
			Buckets: endToEndBuckets,
		}, []string{"subscriber"}),
		deadReasons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_delivery_dead_total",
			Help: "Deliveries this process recorded dead, by subscriber and reason (permanent, attempts, max_age, gone, transform).",
		}, []string{"subscriber", "reason"}),
		filterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookgate_filter_errors_total",
			Help: "Run-time errors of a subscriber's filter expression; the event counted as not matching.",
		}, []string{"subscriber"}),
	}
}

// sourceMetrics are one source's series.
type sourceMetrics struct {
	codes [len(countedCodes) + 1]prometheus.Counter // the last: other
	// types: event type -> its series by result; at most
	// maxTypesPerSource of them, plus otherType.
	types cowMap[*[3]prometheus.Counter]
}

// source returns name's series, made on first use. name may alias a
// request buffer: the map keeps its own copy.
func (m *metrics) source(name string) *sourceMetrics {
	s, _ := m.sources.getOrAdd(name, func(name string) (*sourceMetrics, bool) {
		s := &sourceMetrics{}
		for i, code := range countedCodes {
			s.codes[i] = m.requests.WithLabelValues(name, strconv.Itoa(code))
		}
		s.codes[len(countedCodes)] = m.requests.WithLabelValues(name, "other")
		return s, true
	})
	return s
}

// ingestRequest counts one answered ingest request. known is false for a
// source not in the config, which is counted under unknownSource rather
// than under the caller's string.
func (m *metrics) ingestRequest(source string, known bool, code int) {
	if !known {
		source = unknownSource
	}
	s := m.source(source)
	for i, c := range countedCodes {
		if c == code {
			s.codes[i].Inc()
			return
		}
	}
	s.codes[len(countedCodes)].Inc()
}

// IngestEvent implements gateway.IngestObserver. source is a configured
// name (the Ingester passes the config's own copy).
func (m *metrics) IngestEvent(source, typ, result string) {
	var r int
	switch result {
	case gateway.EventStored:
		r = 0
	case gateway.EventDuplicate:
		r = 1
	case gateway.EventStale:
		r = 2
	default:
		return
	}
	s := m.source(source)
	series, ok := s.types.get(typ)
	if !ok && s.types.len() < maxTypesPerSource && len(typ) <= maxTypeLen && utf8.ValidString(typ) {
		series, ok = s.types.getOrAdd(typ, func(typ string) (*[3]prometheus.Counter, bool) {
			if s.types.len() >= maxTypesPerSource {
				return nil, false
			}
			return m.eventSeries(source, typ), true
		})
	}
	if !ok {
		series, _ = s.types.getOrAdd(otherType, func(string) (*[3]prometheus.Counter, bool) {
			return m.eventSeries(source, otherType), true
		})
	}
	series[r].Inc()
}

func (m *metrics) eventSeries(source, typ string) *[3]prometheus.Counter {
	return &[3]prometheus.Counter{
		m.events.WithLabelValues(source, typ, gateway.EventStored),
		m.events.WithLabelValues(source, typ, gateway.EventDuplicate),
		m.events.WithLabelValues(source, typ, gateway.EventStale),
	}
}

// subscriberMetrics are one subscriber's series.
type subscriberMetrics struct {
	delivered, retrying, dead prometheus.Counter
	attemptSeconds, endToEnd  prometheus.Observer
	filterErrors              prometheus.Counter
	// deadBy counts dead deliveries by reason: every reason's series
	// exists from the start (a bounded set), so that rate() sees the
	// first one.
	deadBy map[gateway.DeadReason]prometheus.Counter
}

// subscriber returns name's series, made on first use.
func (m *metrics) subscriber(name string) *subscriberMetrics {
	s, _ := m.subscribers.getOrAdd(name, func(name string) (*subscriberMetrics, bool) {
		deadBy := map[gateway.DeadReason]prometheus.Counter{}
		for _, r := range gateway.DeadReasons() {
			deadBy[r] = m.deadReasons.WithLabelValues(name, string(r))
		}
		return &subscriberMetrics{
			deadBy:         deadBy,
			delivered:      m.attempts.WithLabelValues(name, string(gateway.StatusDelivered)),
			retrying:       m.attempts.WithLabelValues(name, string(gateway.StatusRetrying)),
			dead:           m.attempts.WithLabelValues(name, string(gateway.StatusDead)),
			attemptSeconds: m.attemptSeconds.WithLabelValues(name),
			endToEnd:       m.endToEnd.WithLabelValues(name),
			filterErrors:   m.filterErrors.WithLabelValues(name),
		}, true
	})
	return s
}

// Attempt implements deliver.Observer.
func (m *metrics) Attempt(a deliver.AttemptInfo) {
	s := m.subscriber(a.Subscriber)
	s.attemptSeconds.Observe(a.Duration.Seconds())
	switch a.Status {
	case gateway.StatusDelivered:
		s.delivered.Inc()
		s.endToEnd.Observe(a.EndToEnd.Seconds())
	case gateway.StatusRetrying:
		s.retrying.Inc()
	case gateway.StatusDead:
		s.dead.Inc()
		if c, ok := s.deadBy[a.DeadReason]; ok {
			c.Inc()
		}
	}
}

// FilterError implements gateway.IngestObserver.
func (m *metrics) FilterError(subscriber string) {
	m.subscriber(subscriber).filterErrors.Inc()
}

// cowMap is a map from names to values, read without a lock and copied on
// write: its keys (sources, subscribers, a source's event types) are few,
// bounded, and added rarely, while reads come with every request.
type cowMap[V any] struct {
	mu sync.Mutex // serializes writers
	m  atomic.Pointer[map[string]V]
}

func (c *cowMap[V]) get(k string) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

func (c *cowMap[V]) len() int {
	if m := c.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// getOrAdd returns k's value, adding the one mk makes if k has none; mk
// gets a copy of k that outlives the caller's buffer, and may decline
// (false), in which case nothing is added and getOrAdd returns false.
func (c *cowMap[V]) getOrAdd(k string, mk func(k string) (V, bool)) (V, bool) {
	if v, ok := c.get(k); ok {
		return v, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.get(k); ok {
		return v, true
	}
	k = strings.Clone(k)
	v, ok := mk(k)
	if !ok {
		return v, false
	}
	var next map[string]V
	if old := c.m.Load(); old != nil {
		next = make(map[string]V, len(*old)+1)
		for kk, vv := range *old {
			next[kk] = vv
		}
	} else {
		next = make(map[string]V, 1)
	}
	next[k] = v
	c.m.Store(&next)
	return v, true
}
