package gateway_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
)

// storedEnvelope is the one stored event of source, decoded.
func storedEnvelope(t *testing.T, store gateway.Store, source string) gateway.Envelope {
	t.Helper()
	ctx := context.Background()
	page, err := store.List(ctx, gateway.EventFilter{Source: source})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("List = %+v, %v; want one event", page, err)
	}
	rec, err := store.Event(ctx, page.Events[0].ID)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	var env gateway.Envelope
	if err := json.Unmarshal(rec.Envelope, &env); err != nil {
		t.Fatalf("stored envelope is not JSON: %v", err)
	}
	return env
}

// Tracing on: verify and store are spans under the request's span, and
// the event carries the request's trace context (Request.Trace).
func TestIngestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	store, err := boltstore.Open(gateway.StoreConfig{Path: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	in, err := gateway.NewIngester(parseConfig(t, ingestConfig), store, gateway.IngesterOptions{Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}

	ctx, root := tracer.Start(context.Background(), "request")
	req := signedRequest(productUpdated, ingestSecret)
	req.Trace = root.SpanContext()
	if _, err := in.Ingest(ctx, "shop", req); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	bad := signedRequest(productUpdated, "not-the-secret")
	if _, err := in.Ingest(ctx, "shop", bad); err == nil {
		t.Fatal("Ingest of a badly signed request: no error")
	}
	root.End()

	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
		if s.Name() == "request" {
			continue
		}
		if s.Parent().SpanID() != root.SpanContext().SpanID() || s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %s: parent %s, want the request's %s", s.Name(), s.Parent().SpanID(), root.SpanContext().SpanID())
		}
	}
	if want := []string{"verify", "store", "verify", "request"}; !slices.Equal(names, want) {
		t.Errorf("spans %v, want %v", names, want)
	}
	if failed := rec.Ended()[2]; failed.Status().Code != otelcodes.Error || failed.Status().Description != "signature" {
		t.Errorf("failed verify span status %+v, want Error \"signature\"", failed.Status())
	}
	env := storedEnvelope(t, store, "shop")
	if want := gateway.FormatTraceParent(root.SpanContext()); env.TraceParent != want {
		t.Errorf("stored traceparent %q, want the request span's %q", env.TraceParent, want)
	}
}

// Tracing off, no trace context from the provider: the event carries a
// new trace (SPEC 4), unsampled since nothing records it, and the next
// request starts another.
func TestIngestWithoutTrace(t *testing.T) {
	in, store, _ := newIngester(t)
	if _, err := in.Ingest(context.Background(), "shop", signedRequest(productUpdated, ingestSecret)); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	env := storedEnvelope(t, store, "shop")
	sc, ok := gateway.ParseTraceParent(env.TraceParent)
	if !ok || sc.IsSampled() || env.TraceState != "" {
		t.Fatalf("stored traceparent %q tracestate %q; want a valid, unsampled one and no tracestate", env.TraceParent, env.TraceState)
	}
	seen := map[trace.TraceID]bool{sc.TraceID(): true}
	for range 100 {
		if n := gateway.NewTrace(); !n.IsValid() || seen[n.TraceID()] {
			t.Fatalf("NewTrace = %v: invalid or a trace id seen before", n)
		} else {
			seen[n.TraceID()] = true
		}
	}
}
