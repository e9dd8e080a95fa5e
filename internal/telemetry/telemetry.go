// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables: the SDK's tracer provider, a batch span
// processor and an OTLP/HTTP exporter. It is the only importer of the
// OpenTelemetry SDK; gateway/ and gateway/deliver see only the API's
// trace.Tracer, nil when tracing is off, so that the hot path pays
// nothing for it then.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
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
	ended atomic.Int64 // sampled spans handed to the batch processor
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
// The exporter itself reads the rest of the OTLP variables (headers,
// timeout, compression, certificates), and the SDK the sampler, span
// limits and batch processor ones (OTEL_BSP_*).
func FromEnv(getenv func(string) string, version string, log *slog.Logger) (*Tracing, error) {
	on, err := enabled(getenv)
	if err != nil || !on {
		return nil, err
	}
	if err := checkEnv(getenv); err != nil {
		return nil, err
	}
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
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
	t := &Tracing{exp: &countingExporter{SpanExporter: exp}, log: log, Endpoint: endpoint(getenv)}
	// The batch processor's queue is bounded (OTEL_BSP_MAX_QUEUE_SIZE,
	// 2048): when the collector is slow or gone, spans past it are
	// dropped, and ingest and delivery never wait for the exporter.
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(countingProcessor{sdktrace.NewBatchSpanProcessor(t.exp), &t.ended}),
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
// ctx: an unreachable collector costs at most its deadline. The spans that
// were not exported (failed exports, and those still queued at the
// deadline) are logged as lost.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	err := t.tp.Shutdown(ctx)
	st := t.Stats()
	t.log.Info("tracing stopped", "spans_exported", st.Exported, "spans_failed", st.Failed, "spans_dropped", st.Dropped())
	if err != nil {
		return fmt.Errorf("tracing: flush: %w", err)
	}
	return nil
}

// Stats count the spans since the start.
type Stats struct {
	Ended    int64 // sampled spans ended, handed to the batch processor
	Exported int64 // spans the collector took
	Failed   int64 // spans in exports that failed
}

// Dropped is the spans ended but neither exported nor failed: those the
// batch processor dropped because its queue was full, and those still in
// it. Once Shutdown has returned, it is those that were lost.
func (s Stats) Dropped() int64 { return max(0, s.Ended-s.Exported-s.Failed) }

// Stats returns the span counts; zero when t is off.
func (t *Tracing) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	return Stats{Ended: t.ended.Load(), Exported: t.exp.exported.Load(), Failed: t.exp.failed.Load()}
}

// countingProcessor counts the sampled spans ended, which the batch
// processor behind it queues or drops.
type countingProcessor struct {
	sdktrace.SpanProcessor
	ended *atomic.Int64
}

func (p countingProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		p.ended.Add(1)
	}
	p.SpanProcessor.OnEnd(s)
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
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s=%q: want an http:// or https:// URL", name, v)
		}
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

// endpoint is the trace endpoint the exporter uses, for the log, without
// any user:password in it: the traces-specific variable as it is, else the
// general one with /v1/traces, else the exporter's default.
func endpoint(getenv func(string) string) string {
	v, path := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), ""
	if v == "" {
		v, path = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/v1/traces"
	}
	if v == "" {
		return "https://localhost:4318/v1/traces"
	}
	u, err := url.Parse(v)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	return strings.TrimSuffix(u.String(), "/") + path
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
