package telemetry

import (
	"context"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// stuckProcessor stands for a batch processor whose exporter hangs: its
// OnEnd blocks until released.
type stuckProcessor struct {
	got      chan struct{}
	release  chan struct{}
	ended    atomic.Int64
	shutdown atomic.Bool
}

func (p *stuckProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *stuckProcessor) OnEnd(sdktrace.ReadOnlySpan) {
	p.got <- struct{}{}
	<-p.release
	p.ended.Add(1)
}
func (p *stuckProcessor) Shutdown(context.Context) error   { p.shutdown.Store(true); return nil }
func (p *stuckProcessor) ForceFlush(context.Context) error { return nil }

// A full queue drops and counts, and ending a span never waits for the
// processor behind it; a shutdown hands on what is queued.
func TestQueueDropsWhenFull(t *testing.T) {
	next := &stuckProcessor{got: make(chan struct{}, 16), release: make(chan struct{})}
	q := newQueueProcessor(next, 2)
	tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(q)).Tracer("test")
	end := func() {
		_, s := tr.Start(context.Background(), "x")
		s.End()
	}
	end()
	<-next.got // the mover holds the first span, stuck
	for range 4 {
		end() // two fit in the queue, two are dropped: none waits
	}
	if got, want := [2]int64{q.queued.Load(), q.dropped.Load()}, [2]int64{3, 2}; got != want {
		t.Errorf("queued, dropped = %v, want %v", got, want)
	}
	close(next.release)
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := next.ended.Load(); n != 3 || !next.shutdown.Load() {
		t.Errorf("processor behind got %d spans (shut down: %v), want 3 and shut down", n, next.shutdown.Load())
	}
}
