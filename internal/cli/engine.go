package cli

import (
	"context"
	"log/slog"

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

func newEngine(store gateway.Store, cfg *gateway.Config, log *slog.Logger, tracer trace.Tracer) engine {
	return deliver.New(store, cfg.Subscribers, deliver.Options{
		Logger:    log,
		UserAgent: userAgent(),
		Tracer:    tracer,
	})
}
