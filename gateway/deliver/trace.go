package deliver

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
)

// startSpan starts the span of one attempt at c, a child of the trace
// context its envelope carries (a root when it carries none), or returns
// nil when tracing is off.
func (d *dispatcher) startSpan(c gateway.Claim) trace.Span {
	tr := d.e.opts.Tracer
	if tr == nil {
		return nil
	}
	ctx := context.Background()
	if sc := gateway.TraceOfBody(c.Body); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	_, span := tr.Start(ctx, "deliver", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("hookgate.subscriber", d.name),
		attribute.String("hookgate.event.id", c.EventID),
		attribute.Int("hookgate.attempt", c.Attempts+1),
		attribute.String("http.request.method", http.MethodPost),
	))
	return span
}

// endAttemptSpan ends an attempt's span with its status code and outcome
// (the delivery's status after it: delivered, retrying, dead; or aborted
// by a shutdown). A failed attempt is an error, with the recorded reason,
// which names no secret and quotes no body.
func endAttemptSpan(span trace.Span, a gateway.Attempt, outcome string) {
	if a.StatusCode != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", a.StatusCode))
	}
	span.SetAttributes(attribute.String("hookgate.outcome", outcome))
	if a.Error != "" {
		span.SetStatus(otelcodes.Error, a.Error)
	}
	span.End()
}

// setTraceHeaders sets the W3C trace headers of an attempt: the attempt
// span's context when tracing is on, else a new span id under the
// envelope's trace context (an attempt is a child span either way, one
// that nothing records when tracing is off), so that a subscriber's trace
// joins the event's. An envelope stored without one (before trace
// contexts) sends none and costs one prefix comparison.
func setTraceHeaders(h http.Header, body []byte, span trace.Span) {
	var sc trace.SpanContext
	if span != nil {
		sc = span.SpanContext()
	} else if sc = gateway.TraceOfBody(body); sc.IsValid() {
		sc = gateway.ChildSpan(sc)
	}
	if !sc.IsValid() {
		return
	}
	h.Set(gateway.HeaderTraceParent, gateway.FormatTraceParent(sc))
	if ts := sc.TraceState(); ts.Len() > 0 {
		h.Set(gateway.HeaderTraceState, ts.String())
	}
}
