// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables: the SDK's tracer provider, a bounded queue and a
// batch span processor, and an OTLP/HTTP exporter (otlp.go). It is the only importer of the
// OpenTelemetry SDK; gateway/ and gateway/deliver see only the API's
// trace.Tracer, nil when tracing is off, so that the hot path pays
// nothing for it then.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every hookgate span.
const ScopeName = "github.com/hookgate/hookgate"

// DefaultServiceName is service.name when OTEL_SERVICE_NAME (or
// OTEL_RESOURCE_ATTRIBUTES) does not set it.
const DefaultServiceName = "hookgate"

// Tracing is the process's tracing: a tracer provider exporting over
// OTLP/HTTP, or nothing at all when tracing is off. A nil *Tracing is off.
type Tracing struct {
	tp    *sdktrace.TracerProvider
	exp   *countingExporter
	queue *queueProcessor
	log   *slog.Logger
	// Endpoint is where spans go, for the start-up log line.
	Endpoint string
}

// FromEnv reads the OTEL_* variables through getenv and returns the
// tracing they ask for: nil (off, and free) unless
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set
// or OTEL_TRACES_EXPORTER is otlp; OTEL_TRACES_EXPORTER=none or
// OTEL_SDK_DISABLED=true turns it off whatever else is set. A value it
// cannot honour (an unknown exporter, a protocol other than
// http/protobuf, a malformed endpoint, an unknown sampler or a ratio
// outside [0, 1]) is an error naming the variable and the value, so that
// serve refuses to start rather than run without the traces asked for.
//
// The exporter's settings come from the OTLP exporter variables
// (endpoint, headers, timeout, compression, certificates; otlp.go), and
// the SDK reads the sampler, span limit and batch processor ones
// (OTEL_BSP_*) itself.
func FromEnv(getenv func(string) string, version string, log *slog.Logger) (*Tracing, error) {
	on, err := enabled(getenv)
	if err != nil || !on {
		return nil, err
	}
	if err := checkEnv(getenv); err != nil {
		return nil, err
	}
	cfg, err := otlpConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", DefaultServiceName),
			attribute.String("service.version", version),
		),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: after, so they win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		// Only a malformed OTEL_RESOURCE_ATTRIBUTES gets here.
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	t := &Tracing{exp: &countingExporter{SpanExporter: newOTLPExporter(cfg)}, log: log, Endpoint: redactURL(cfg.endpoint)}
	// Spans wait in a bounded queue (maxQueuedSpans) in front of the
	// batch processor (OTEL_BSP_*, its own queue 2048): when the collector
	// is slow or gone, spans past the bound are dropped and counted, and
	// ingest and delivery never wait for the exporter.
	t.queue = newQueueProcessor(sdktrace.NewBatchSpanProcessor(t.exp, sdktrace.WithBlocking()), maxQueuedSpans)
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(t.queue),
		sdktrace.WithResource(res),
	)
	// The SDK reports export failures through the global handler: one log
	// line a minute, with how many were held back.
	otel.SetErrorHandler(&errorLog{log: log})
	return t, nil
}

// Tracer is the tracer for hookgate's spans, nil when t is off.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.tp.Tracer(ScopeName)
}

// Shutdown flushes the spans still queued and stops the exporter, within
// ctx: an unreachable collector costs at most its deadline. It logs the
// counts, lost spans included: failed exports, spans dropped for a full
// queue, and those still queued at the deadline.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	err := t.tp.Shutdown(ctx)
	st := t.Stats()
	t.log.Info("tracing stopped", "spans_exported", st.Exported, "spans_failed", st.Failed,
		"spans_dropped", st.Dropped, "spans_unexported", st.Unexported())
	if err != nil {
		return fmt.Errorf("tracing: flush: %w", err)
	}
	return nil
}

// Stats count the sampled spans since the start. Every counter only
// grows.
type Stats struct {
	Queued   int64 // spans taken into the queue for export
	Dropped  int64 // spans dropped because the queue was full
	Exported int64 // spans the collector took
	Failed   int64 // spans in exports that failed (after the exporter's retries)
}

// Unexported is the spans queued but neither exported nor failed: on
// their way now, or, once Shutdown has returned, cut off by its deadline.
func (s Stats) Unexported() int64 { return max(0, s.Queued-s.Exported-s.Failed) }

// Stats returns the span counts; zero when t is off.
func (t *Tracing) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	return Stats{Queued: t.queue.queued.Load(), Dropped: t.queue.dropped.Load(),
		Exported: t.exp.exported.Load(), Failed: t.exp.failed.Load()}
}

// enabled reports whether the environment asks for tracing.
func enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	switch v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); v {
	case "none":
		return false, nil
	case "otlp":
		return true, nil
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "", nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: unsupported, want otlp or none", v)
	}
}

// checkEnv refuses the settings the SDK and exporter would otherwise pass
// over with a message on the error handler and a default in their place.
func checkEnv(getenv func(string) string) error {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		if v != "http/protobuf" {
			return fmt.Errorf("%s=%q: unsupported, want http/protobuf (this build exports OTLP over HTTP only)", name, v)
		}
		break // the traces-specific one, when set, decides
	}
	sampler := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	switch sampler {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
	case "traceidratio", "parentbased_traceidratio":
		if arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); arg != "" {
			r, err := strconv.ParseFloat(arg, 64)
			if err != nil || r < 0 || r > 1 {
				return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1", arg)
			}
		}
	default:
		return fmt.Errorf("OTEL_TRACES_SAMPLER=%q: unsupported, want always_on, always_off, traceidratio or parentbased_ one of them", sampler)
	}
	return nil
}

// countingExporter counts the spans exported and those an export lost.
type countingExporter struct {
	sdktrace.SpanExporter
	exported, failed atomic.Int64
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.failed.Add(int64(len(spans)))
	} else {
		e.exported.Add(int64(len(spans)))
	}
	return err
}

// errorLog logs OpenTelemetry's errors (failed exports, mostly), one line
// a minute, so that a collector that is down does not flood the log.
type errorLog struct {
	log        *slog.Logger
	next       atomic.Int64 // unix nanoseconds before which errors are counted, not logged
	suppressed atomic.Int64
}

func (h *errorLog) Handle(err error) {
	now := time.Now()
	next := h.next.Load()
	if now.UnixNano() < next || !h.next.CompareAndSwap(next, now.Add(time.Minute).UnixNano()) {
		h.suppressed.Add(1)
		return
	}
	// The message names the endpoint, never the OTLP headers.
	h.log.Warn("tracing: spans not exported", "error", err, "unlogged", h.suppressed.Swap(0))
}
