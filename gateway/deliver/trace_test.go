package deliver

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
)

const (
	eventParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	eventState  = "congo=t61rcWkgMzE"
)

// putTraced stores one event whose envelope carries the trace context
// parent/state ("" parent: none) for sub, and returns its id.
func putTraced(t *testing.T, s gateway.Store, parent, state string, sub string) string {
	t.Helper()
	env := gateway.NewEnvelope("src", gateway.Event{Identity: t.Name() + parent, Type: "src.product.updated",
		Subject: "product/1", Object: json.RawMessage(`{"n":1}`)}, time.Now())
	env.TraceParent, env.TraceState = parent, state
	body, err := gateway.EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), []gateway.NewEvent{{Envelope: env, Body: body, ReceivedAt: time.Now(), Subscribers: []string{sub}}}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return env.ID
}

// Tracing on: a span per attempt, each a child of the event's trace
// context, with its attempt number, status code and outcome; each request
// carries a traceparent of the event's trace and the attempt's span, and
// the event's tracestate.
func TestAttemptSpans(t *testing.T) {
	st := openBolt(t)
	sk := newSink(t, func(r request, nth int) (int, http.Header) {
		if nth == 1 {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	o := testOptions(t)
	o.Tracer = tp.Tracer("test")
	id := putTraced(t, st, eventParent, eventState, "a")
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, o)
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, id))
	waitFor(t, "two spans ended", func() bool { return len(rec.Ended()) == 2 })

	parent, _ := gateway.ParseTraceParent(eventParent)
	spans := rec.Ended()
	reqs := sk.requests()
	if len(reqs) != 2 {
		t.Fatalf("subscriber got %d requests, want 2", len(reqs))
	}
	for i, want := range []struct {
		code    int
		outcome string
		status  otelcodes.Code
	}{{503, "retrying", otelcodes.Error}, {200, "delivered", otelcodes.Unset}} {
		s := spans[i]
		if s.Name() != "deliver" || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d: %q %v, want deliver, client", i, s.Name(), s.SpanKind())
		}
		if s.SpanContext().TraceID() != parent.TraceID() || s.Parent().SpanID() != parent.SpanID() {
			t.Errorf("span %d: trace %s parent %s, want the event's %s %s", i,
				s.SpanContext().TraceID(), s.Parent().SpanID(), parent.TraceID(), parent.SpanID())
		}
		attrs := map[string]any{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		for k, v := range map[string]any{"hookgate.subscriber": "a", "hookgate.event.id": id, "hookgate.attempt": int64(i + 1),
			"http.response.status_code": int64(want.code), "hookgate.outcome": want.outcome} {
			if attrs[k] != v {
				t.Errorf("span %d: %s = %v, want %v", i, k, attrs[k], v)
			}
		}
		if s.Status().Code != want.status {
			t.Errorf("span %d: status %v, want %v", i, s.Status().Code, want.status)
		}
		h := reqs[i].Header
		if got, want := h.Get("traceparent"), gateway.FormatTraceParent(s.SpanContext()); got != want {
			t.Errorf("request %d: traceparent %q, want %q (the attempt's span)", i, got, want)
		}
		if got := h.Get("tracestate"); got != eventState {
			t.Errorf("request %d: tracestate %q, want %q", i, got, eventState)
		}
	}
}

// Tracing off: each attempt is sent as a child of the event's trace
// context (the same trace id and flags, a new parent id each attempt); an
// event stored without one (before trace contexts) sends no trace header.
func TestTraceHeadersTracingOff(t *testing.T) {
	st := openBolt(t)
	sk := newSink(t, nil)
	traced := putTraced(t, st, eventParent, "", "a")
	plain := putTraced(t, st, "", "", "a")
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, testOptions(t))
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, traced, plain))
	stored, _ := gateway.ParseTraceParent(eventParent)
	for _, r := range sk.requests() {
		got := r.Header.Get("traceparent")
		if r.ID == plain {
			if got != "" {
				t.Errorf("%s: traceparent %q, want none", r.ID, got)
			}
			continue
		}
		sc, ok := gateway.ParseTraceParent(got)
		if !ok || sc.TraceID() != stored.TraceID() || sc.SpanID() == stored.SpanID() || sc.TraceFlags() != stored.TraceFlags() {
			t.Errorf("%s: traceparent %q; want trace %s, flags %s and a span id other than %s",
				r.ID, got, stored.TraceID(), stored.TraceFlags(), stored.SpanID())
		}
		if got := r.Header.Get("tracestate"); got != "" {
			t.Errorf("%s: tracestate %q, want none", r.ID, got)
		}
	}
}

// requests is every request the sink got, in arrival order.
func (s *sink) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// Tracing off, an envelope without a trace context: the attempt's trace
// work allocates nothing (the engine's own figures vary by hundreds of
// allocations a delivery with batching, so this is checked here).
func TestTraceOffAllocs(t *testing.T) {
	env := gateway.NewEnvelope("src", gateway.Event{Identity: "x", Type: "src.product.updated", Object: json.RawMessage(`{"n":1}`)}, time.Now())
	body, err := gateway.EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	d := &dispatcher{e: &Engine{}, name: "a"}
	h := http.Header{}
	c := gateway.Claim{EventID: env.ID, Body: body}
	if n := testing.AllocsPerRun(100, func() {
		if span := d.startSpan(c); span != nil {
			t.Fatal("a span with no tracer")
		}
		setTraceHeaders(h, c.Body, nil)
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
	if len(h) != 0 {
		t.Errorf("headers %v, want none", h)
	}
}
