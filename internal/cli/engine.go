package cli

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/routes"
)

// engine is what serve needs of the delivery engine; *deliver.Engine is it.
type engine interface {
	routes.Engine
	Start(ctx context.Context)
	Update(subs map[string]*gateway.SubscriberConfig)
	Stop(ctx context.Context) error
}

var _ engine = (*deliver.Engine)(nil)

func newEngine(store gateway.Store, cfg *gateway.Config, log *slog.Logger, tracer trace.Tracer, ops gateway.OpRaiser) engine {
	return deliver.New(store, cfg.Subscribers, deliver.Options{
		Logger:    log,
		UserAgent: userAgent(),
		Tracer:    tracer,
		Ops:       ops,
	})
}

// opsLink hands the engine's transitions to the emitter of the gateway's
// own events, made after the engine (it stores through the ingester,
// which wakes the engine). Until it is set, nothing is raised.
type opsLink struct {
	m atomic.Pointer[gateway.OpEmitter]
}

// Raising implements gateway.OpRaiser.
func (l *opsLink) Raising() bool {
	m := l.m.Load()
	return m != nil && m.Raising()
}

// Raise implements gateway.OpRaiser.
func (l *opsLink) Raise(op gateway.OpEvent) {
	if m := l.m.Load(); m != nil {
		m.Raise(op)
	}
}
