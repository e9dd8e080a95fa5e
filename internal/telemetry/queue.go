package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// maxQueuedSpans bounds the spans ended and not yet taken by the batch
// processor. Past it a span is dropped and counted, never waited for: an
// ingest request or a delivery attempt does not slow down because the
// collector is slow or gone.
const maxQueuedSpans = 2048

// queueProcessor puts a bounded queue of its own in front of the SDK's
// batch span processor, which then blocks (WithBlocking) rather than drop
// in silence: the SDK drops spans when its queue is full but does not
// say how many, and this queue counts every span it drops. One
// goroutine moves spans from the queue into the batch processor.
type queueProcessor struct {
	next    sdktrace.SpanProcessor // the batch processor, blocking when full
	q       chan sdktrace.ReadOnlySpan
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once

	queued, dropped atomic.Int64 // sampled spans taken in, and dropped for a full queue
}

func newQueueProcessor(next sdktrace.SpanProcessor, size int) *queueProcessor {
	p := &queueProcessor{next: next, q: make(chan sdktrace.ReadOnlySpan, size),
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *queueProcessor) run() {
	defer close(p.done)
	for {
		select {
		case s := <-p.q:
			p.next.OnEnd(s)
		case <-p.stop:
			for {
				select {
				case s := <-p.q:
					p.next.OnEnd(s)
				default:
					return
				}
			}
		}
	}
}

// OnStart implements sdktrace.SpanProcessor.
func (p *queueProcessor) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	p.next.OnStart(ctx, s)
}

// OnEnd queues a sampled span, or drops and counts it when the queue is
// full. It never blocks.
func (p *queueProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the batch processor would not export it either
	}
	select {
	case p.q <- s:
		p.queued.Add(1)
	default:
		p.dropped.Add(1)
	}
}

// Shutdown hands the queued spans to the batch processor and shuts it
// down (a flush), all within ctx.
func (p *queueProcessor) Shutdown(ctx context.Context) error {
	p.stopped.Do(func() { close(p.stop) })
	select {
	case <-p.done:
	case <-ctx.Done():
		// The batch processor is full and its exporter stuck: what is
		// still queued is lost (Stats.Unexported).
		return ctx.Err()
	}
	return p.next.Shutdown(ctx)
}

// ForceFlush implements sdktrace.SpanProcessor: the batch processor's
// flush (spans still in this queue follow in their own time).
func (p *queueProcessor) ForceFlush(ctx context.Context) error {
	return p.next.ForceFlush(ctx)
}
