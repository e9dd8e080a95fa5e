package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
)

// ingestHandler serves /webhooks/{source}. It is the hot path: per request
// it copies the body once, builds no maps and uses no reflection; the rest
// of the work is the provider's decoding and the store's write.
type ingestHandler struct {
	in      *gateway.Ingester
	now     func() time.Time
	metrics *metrics
	budget  *byteBudget // server.max_pending_bytes
	// storeTimeout bounds the wait for the store (Deps.StoreTimeout).
	storeTimeout time.Duration
	log          *slog.Logger
	tracer       trace.Tracer // nil: tracing off
}

// post answers 200 once every event of the request is durably stored, and
// an error (mapped in errors.go) otherwise.
func (h *ingestHandler) post(c *fiber.Ctx) error {
	ctx, span := h.startSpan(c)
	res, err := h.ingest(ctx, c, span)
	if span != nil {
		h.endSpan(c, span, res, err)
	}
	if err != nil {
		h.metrics.ingestRequest(c.Params("source"), !errors.Is(err, gateway.ErrUnknownSource), statusOf(err))
		return err // logged, sampled, by the error handler
	}
	h.metrics.ingestRequest(c.Params("source"), true, fiber.StatusOK)
	if h.log.Enabled(c.UserContext(), slog.LevelDebug) {
		h.log.Debug("ingest accepted", "source", c.Params("source"), "stored", res.Stored,
			"duplicates", res.Duplicates, "stale", res.Stale, "test", res.Test)
	}
	return nil
}

// ingest runs one request under ctx; span is the request's span (nil:
// tracing off), whose context the events carry.
func (h *ingestHandler) ingest(ctx context.Context, c *fiber.Ctx, span trace.Span) (gateway.IngestResult, error) {
	// The source first: a request for no source costs no body read, and
	// the connection is closed rather than drained.
	if !h.in.HasSource(c.Params("source")) {
		c.Context().SetConnectionClose()
		return gateway.IngestResult{}, fmt.Errorf("ingest %q: %w", c.Params("source"), gateway.ErrUnknownSource)
	}
	cfg := h.in.Config()
	maxBody := int64(cfg.BodyLimit(c.Params("source")))
	cl := &claim{b: h.budget, client: clientOf(c.Context().RemoteIP()), lim: limitsFor(cfg.Server, maxBody)}
	// Held until the events are stored: the body, and what is made of it,
	// are in memory until then.
	defer cl.release()
	body, err := readBody(c, maxBody, cl, int64(cfg.Server.MinUploadRate))
	if err != nil {
		return gateway.IngestResult{}, err
	}
	if err := cl.takeProcessing(processingCost(len(body)), h.storeTimeout); err != nil {
		return gateway.IngestResult{}, fmt.Errorf("decode and store %d bytes: %w", len(body), err)
	}
	req := gateway.Request{
		Header:     ctxHeader{c},
		Body:       body,
		ReceivedAt: h.now(),
	}
	if span != nil {
		req.Trace = span.SpanContext()
	} else {
		// Tracing off: the provider's trace context is still carried and
		// sent on, as it came; it costs a header lookup.
		req.Trace = gateway.TraceFromHeader(ctxHeader{c})
	}
	ctx, cancel := context.WithTimeout(ctx, h.storeTimeout)
	defer cancel()
	res, err := h.in.Ingest(ctx, c.Params("source"), req)
	if err != nil {
		return res, err
	}
	var buf [96]byte
	b := append(buf[:0], `{"stored":`...)
	b = strconv.AppendInt(b, int64(res.Stored), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(res.Duplicates), 10)
	if res.Stale > 0 {
		b = append(b, `,"stale":`...)
		b = strconv.AppendInt(b, int64(res.Stale), 10)
	}
	if res.Test {
		b = append(b, `,"test":true`...)
	}
	b = append(b, '}')
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	// SetBody copies b, so buf can stay on the stack.
	c.Response().SetBody(b)
	return res, nil
}

// startSpan starts the request's server span, a child of the provider's
// traceparent when it sent a valid one, and returns the context that
// carries it; with tracing off it returns the request's context and nil.
func (h *ingestHandler) startSpan(c *fiber.Ctx) (context.Context, trace.Span) {
	ctx := c.UserContext()
	if h.tracer == nil {
		return ctx, nil
	}
	if sc := gateway.TraceFromHeader(ctxHeader{c}); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return h.tracer.Start(ctx, "POST /webhooks/{source}", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", fiber.MethodPost),
			attribute.String("http.route", "/webhooks/{source}"),
		))
}

// endSpan ends the request's span with its status code and, for a
// configured source, the source and the counts. A 5xx is an error; a 4xx
// is the provider's and only names its kind (error.type), as the HTTP
// conventions have it. Neither carries a message, a body or a header.
func (h *ingestHandler) endSpan(c *fiber.Ctx, span trace.Span, res gateway.IngestResult, err error) {
	status := fiber.StatusOK
	if err != nil {
		status = statusOf(err)
		kind := gateway.ErrorKind(err)
		span.SetAttributes(attribute.String("error.type", kind))
		if status >= 500 {
			span.SetStatus(codes.Error, kind)
		}
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if src := c.Params("source"); h.in.HasSource(src) {
		// Only a configured name: the path is the client's to fill. A
		// copy: the span outlives the request's buffer, which src views.
		span.SetAttributes(attribute.String("hookgate.source", strings.Clone(src)))
	}
	if err == nil {
		span.SetAttributes(attribute.Int("hookgate.events.stored", res.Stored),
			attribute.Int("hookgate.events.duplicates", res.Duplicates))
	}
	span.End()
}

// processingCost is what decoding and storing a body of n bytes holds in
// memory beside the body until the store has answered: the events'
// objects decoded out of it, their envelopes encoded, and the store's
// encoding of them, each about as large as the body (a 4MB catalog360
// batch of 100 events: 1.35x the body live at the store write, and the
// store's encoder 1.15x more), plus the envelope's own fields for each
// event, which dominate a small body (an IIMMPACT event of 140 bytes
// makes an envelope of about 600).
func processingCost(n int) int64 { return 2*int64(n) + processingOverhead }

// processingOverhead is processingCost's part that does not grow with the
// body: a small event's envelope, route list and store record.
const processingOverhead = 4 << 10

// head answers 200 for a configured source, so that an upstream can check
// the URL before sending to it (catalog360 does).
func (h *ingestHandler) head(c *fiber.Ctx) error {
	if !h.in.HasSource(c.Params("source")) {
		return c.SendStatus(fiber.StatusNotFound)
	}
	return c.SendStatus(fiber.StatusOK)
}

// ctxHeader gives a provider the request's headers without copying them:
// the values are views into fasthttp's buffer, valid until the handler
// returns, which gateway.Header allows ("valid for the duration of the
// Provider call"). Providers only compare them, so a copy per request
// would be waste on the hot path.
type ctxHeader struct{ c *fiber.Ctx }

// Get returns the named header (any case), "" when absent.
func (h ctxHeader) Get(name string) string { return h.c.Get(name) }
