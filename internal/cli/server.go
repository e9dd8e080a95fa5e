package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/telemetry"
	"github.com/hookgate/hookgate/routes"
)

// server is one running gateway: store, delivery engine, two listeners.
type server struct {
	log      *slog.Logger
	store    gateway.Store
	engine   engine
	ingester *gateway.Ingester
	// ops stores the gateway's own events (source hookgate).
	ops      *gateway.OpEmitter
	reloader *reloader
	// watcher reloads the config when its file changes; nil when the
	// watch could not start (SIGHUP and the API still reload).
	watcher *configWatcher

	public, admin routes.Server
	// listenErr receives an error if a listener stops on its own.
	listenErr chan error
	// stopEngine ends the engine's root context after Stop.
	stopEngine context.CancelFunc
	sweeper    *sweeper
	// backfills runs new subscribers' backfills, told of every config
	// put in force (at start, and by the reloader).
	backfills *backfiller
	// tracing exports the spans; nil: off.
	tracing *telemetry.Tracing
}

// start loads the config, opens the store, starts the engine and both
// listeners. On error everything already started is stopped again.
func start(o serveOptions) (_ *server, err error) {
	cfg, sum := o.config, o.configSum
	if cfg == nil {
		if cfg, sum, err = loadConfigFile(o.configPath); err != nil {
			// config.Load's errors already read "file:line: key: message".
			return nil, err
		}
	}
	if err := refuseDevSecrets(cfg, cfg.Server.Listen, o.allowDevSecrets); err != nil {
		return nil, err
	}
	s := &server{log: o.log, listenErr: make(chan error, 2), tracing: o.tracing}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	cleanup = append(cleanup, func() { s.flushTracing(context.Background()) })
	tracer := o.tracing.Tracer() // nil when tracing is off

	s.store, err = gateway.OpenStore(cfg.Store)
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { s.store.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	s.stopEngine = cancel
	// The engine reports its transitions to the emitter of the gateway's
	// own events, which stores them through the ingester, which wakes the
	// engine: the link is made once all three exist, before the engine
	// starts.
	ops := &opsLink{}
	s.engine = newEngine(s.store, cfg, o.log, tracer, ops)
	cleanup = append(cleanup, func() {
		stopCtx, done := context.WithTimeout(context.Background(), o.grace)
		defer done()
		s.engine.Stop(stopCtx)
		cancel()
	})

	s.ingester, err = gateway.NewIngester(cfg, s.store, gateway.IngesterOptions{
		Notify: s.engine.Notify,
		Logger: o.log,
		Tracer: tracer,
	})
	if err != nil {
		return nil, err
	}
	s.ops = gateway.NewOpEmitter(s.ingester, gateway.OpEmitterOptions{Logger: o.log})
	ops.m.Store(s.ops)
	s.ops.Start()
	cleanup = append(cleanup, func() {
		stopCtx, done := context.WithTimeout(context.Background(), o.grace)
		defer done()
		s.ops.Stop(stopCtx)
	})
	s.engine.Start(ctx)
	s.reloader = newReloader(o.configPath, cfg, sum, s.ingester, s.engine, o.log)
	s.reloader.level = o.level
	s.reloader.allowDevSecrets = o.allowDevSecrets
	s.backfills = newBackfiller(s.store, s.ingester, s.engine.Notify, o.log)
	cleanup = append(cleanup, s.backfills.stop)
	s.reloader.applied = s.backfills.apply
	s.backfills.apply()

	deps := routes.Deps{
		Ingester:  s.ingester,
		Store:     s.store,
		Engine:    s.engine,
		Reloader:  s.reloader,
		Backfills: s.backfills,
		StoreKind: storeKind(cfg.Store),
		Version:   Version,
		Logger:    o.log,
		Tracer:    tracer,
		OpStats:   s.ops.Stats,
	}
	if o.tracing != nil {
		deps.SpanCounts = func() (int64, int64, int64) {
			st := o.tracing.Stats()
			return st.Exported, st.Failed, st.Dropped
		}
	}
	s.public, s.admin = routes.NewServers(deps)
	// The public listener holds each client address to its share of the
	// connections (server.max_conns_per_client), under TLS.
	publicLn, scheme, err := listen(cfg.Server.Listen, cfg.Server.TLS, s.public.Limit, o.log)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	cleanup = append(cleanup, func() { publicLn.Close() })
	adminLn, adminScheme, err := listen(cfg.Admin.Listen, cfg.Admin.TLS, nil, o.log)
	if err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	cleanup = append(cleanup, func() { adminLn.Close() })

	s.sweeper = startSweeper(s.store, o.log, sweepEvery)
	go s.serveOn(s.public, publicLn)
	go s.serveOn(s.admin, adminLn)
	// Last, as it cannot fail the start: a watch that does not start is a
	// warning, and nothing before it needs undoing.
	s.watcher = watchConfig(o.configPath, s.reloader, o.log)

	o.log.Info("hookgate started",
		"version", Version,
		"public", scheme+"://"+publicLn.Addr().String(),
		"admin", adminScheme+"://"+adminLn.Addr().String(),
		"store", storeKind(cfg.Store),
		"sources", len(cfg.Sources),
		"subscribers", len(cfg.Subscribers),
		"tracing", tracingState(o.tracing))
	for _, w := range append(devSecretWarnings(cfg), adminTLSWarnings(cfg)...) {
		o.log.Warn(w)
	}
	if o.ready != nil {
		o.ready(publicLn.Addr(), adminLn.Addr())
	}
	return s, nil
}

func (s *server) serveOn(srv routes.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil {
		s.listenErr <- err
	}
}

// shutdown stops in the order that loses nothing: the file watcher first,
// waiting for a reload under way, so that no reload reaches a stopping
// engine; the public listener, waiting for in-flight requests, so no 200 is
// sent for an event that is not stored; then the engine, which finishes or
// hands back its deliveries; then the admin listener and the store. All of
// it within grace.
func (s *server) shutdown(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	s.watcher.stop()
	s.backfills.stop() // a backfill cut short resumes at the next start
	if err := s.public.Shutdown(ctx); err != nil {
		s.log.Error("shutdown: public listener", "error", err)
	}
	if err := s.engine.Stop(ctx); err != nil {
		s.log.Error("shutdown: delivery engine", "error", err)
	}
	s.stopEngine()
	s.ops.Stop(ctx) // what the engine's last attempts raised
	if err := s.admin.Shutdown(ctx); err != nil {
		s.log.Error("shutdown: admin listener", "error", err)
	}
	s.sweeper.stop()
	if err := s.store.Close(); err != nil {
		s.log.Error("shutdown: close store", "error", err)
	}
	s.flushTracing(ctx)
	s.log.Info("stopped")
}

// flushTimeout bounds the flush of the spans still queued at shutdown: an
// unreachable collector must not hold the exit up for the whole grace.
const flushTimeout = 5 * time.Second

// flushTracing exports the spans still queued, within ctx and
// flushTimeout, and stops the exporter.
func (s *server) flushTracing(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := s.tracing.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown: tracing", "error", err)
	}
}

// tracingState is where spans go, for the start-up line: "off", or the
// OTLP endpoint.
func tracingState(t *telemetry.Tracing) string {
	if t == nil {
		return "off"
	}
	return "otlp " + t.Endpoint
}

// listen binds addr before serving, so that a taken port fails the start
// rather than a goroutine; with both TLS files set it serves HTTPS, the
// files re-read when they change (certReloader). wrap, when set, wraps
// the TCP listener under the TLS one.
func listen(addr string, tc gateway.TLSConfig, wrap func(net.Listener) net.Listener, log *slog.Logger) (net.Listener, string, error) {
	var conf *tls.Config
	if tc.CertFile != "" && tc.KeyFile != "" {
		certs, err := newCertReloader(tc.CertFile, tc.KeyFile, log)
		if err != nil {
			return nil, "", err
		}
		conf = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	if conf != nil {
		return tls.NewListener(ln, conf), "https", nil
	}
	return ln, "http", nil
}

// storeKind names the backend for logs and status, never its address.
func storeKind(sc gateway.StoreConfig) string {
	if sc.Redis != nil {
		return gateway.StoreRedis
	}
	return gateway.StoreEmbedded
}
