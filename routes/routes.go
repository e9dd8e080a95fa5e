// Package routes is hookgate's HTTP layer: the public ingest listener and
// the admin listener, as Fiber apps. It is the only importer of Fiber. It
// copies the request body out of fiber.Ctx (Fiber reuses its buffers once a
// handler returns), lends header values only for the synchronous Decode
// call, and chooses every status code in errors.go.
package routes

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
)

// Engine is what the routes need of the delivery engine
// (gateway/deliver.Engine satisfies it).
type Engine interface {
	// Breaker returns the subscriber's circuit state: "closed", "open" or
	// "half-open".
	Breaker(subscriber string) string
	// BreakerNextProbe returns, while the subscriber's breaker is open,
	// the earliest its half-open probe goes out; ok false otherwise.
	BreakerNextProbe(subscriber string) (at time.Time, ok bool)
	// Notify wakes the subscriber's workers: new work is due. It must not
	// block.
	Notify(subscriber string)
	// NotifyPaused tells the engine that the subscriber was just paused or
	// resumed in the store, so that it stops claiming (or resumes) at once
	// rather than when it next reads the flag. It must not block.
	NotifyPaused(subscriber string, paused bool)
	// PauseChanged is NotifyPaused for a pause (reason) or resume
	// (gateway.PauseNone) just stored by this process, which also
	// reports the transition as one of the gateway's own events.
	PauseChanged(subscriber string, reason gateway.PauseReason)
	// InFlight is how many requests to the subscriber are under way.
	InFlight(subscriber string) int
	// Attempts counts the subscriber's attempts by outcome since start.
	Attempts(subscriber string) deliver.AttemptCounts
	// SetObserver makes o the observer of every attempt from now on (the
	// metrics; New sets it).
	SetObserver(o deliver.Observer)
	// Rates returns each subscriber's attempts in this process over the
	// last deliver.RateWindow, per deliver.RateBucket.
	Rates() map[string]deliver.RateSeries
}

// Reloader reloads the config file and reports on the loads; the serve
// command implements it.
type Reloader interface {
	// Reload reads the config file again and swaps it in; on error the old
	// config stays in force and the error (file:line: key: message) is
	// returned.
	Reload() error
	// LoadedAt is when the config in force was loaded.
	LoadedAt() time.Time
	// LastReloadError is the error of the latest failed reload, "" when the
	// latest reload succeeded or none was tried.
	LastReloadError() string
	// ReloadCounts is how many reloads (file watch, SIGHUP and the API
	// together) succeeded and failed since start.
	ReloadCounts() (succeeded, failed int64)
}

// Deps are the parts the routes serve from. Ingester, Store and Engine are
// required; the config in force is always Ingester.Config(), so a reload
// reaches the routes without rebuilding the apps.
type Deps struct {
	Ingester *gateway.Ingester
	Store    gateway.Store
	Engine   Engine
	Reloader Reloader // nil: no reload endpoint, status shows no load info
	// Backfills reports this process's backfills (subscriber rows and
	// metrics); nil: none shown.
	Backfills Backfills
	// StoreKind names the backend for the status endpoint ("redis",
	// "embedded"); never its address.
	StoreKind string
	Version   string
	Logger    *slog.Logger     // default slog.Default()
	Now       func() time.Time // default time.Now
	// StoreTimeout bounds an ingest request's wait for the store (default
	// 10s): past it the request is answered 503 and the provider retries,
	// rather than holding its connection and body while a disk or Redis
	// stalls.
	StoreTimeout time.Duration
	// Tracer, if set, makes a server span per ingest request (a child of
	// the provider's traceparent when it sent one); nil: tracing is off.
	Tracer trace.Tracer
	// SpanCounts, if set, reports the spans exported, failed and dropped
	// since the start, for hookgate_trace_spans_total; nil (tracing off):
	// all 0.
	SpanCounts func() (exported, failed, dropped int64)
	// OpStats, if set, reports the counters of the gateway's own events
	// (gateway.OpEmitter), for hookgate_opevents_*; nil: all 0.
	OpStats func() gateway.OpStats

	// pending is the public listener's body budget, made by New and read
	// by the metrics.
	pending *byteBudget
	// conns counts the public listener's connections per client, made by
	// New and read by the metrics and the public Server.
	conns *connLimiter
	// metrics are the families counted as things happen, made by New,
	// which makes them the Engine's and the Ingester's observer.
	metrics *metrics
}

func (d *Deps) defaults() {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.StoreTimeout <= 0 {
		d.StoreTimeout = 10 * time.Second
	}
}

// Listener limits. Reads allow a max_body upload over a slow link, and end
// a slow-loris client (headers or body trickled in) after readTimeout from
// the request's first byte; idle keep-alive connections are reaped so that
// shutdown is not held up long.
const (
	readTimeout  = 30 * time.Second
	writeTimeout = 30 * time.Second
	idleTimeout  = 90 * time.Second
	// pingTimeout bounds the store check of /readyz.
	pingTimeout = 2 * time.Second
	// adminBodyLimit is plenty for the admin API, whose one body is a
	// replay's small JSON object.
	adminBodyLimit = 64 << 10
	// maxConns bounds the connections a listener serves at once; past it
	// fasthttp answers 503 and closes. Each costs about 30KB before its
	// body (goroutine, read and write buffers, an 8KB body prefetch), so
	// 2048 of them stay near 60MB beside server.max_pending_bytes. One
	// client address holds at most server.max_conns_per_client of them
	// (conns.go).
	maxConns = 2048
	// readBufferSize is the per-connection read buffer; it also bounds a
	// request's headers (larger ones get 431). Providers send a few hundred
	// bytes of headers.
	readBufferSize = 8 << 10
)

func fiberConfig(bodyLimit int, log *slog.Logger) fiber.Config {
	return fiber.Config{
		AppName:               "hookgate",
		DisableStartupMessage: true,
		BodyLimit:             bodyLimit,
		Concurrency:           maxConns,
		ReadBufferSize:        readBufferSize,
		ReadTimeout:           readTimeout,
		WriteTimeout:          writeTimeout,
		IdleTimeout:           idleTimeout,
		ErrorHandler:          errorHandler(log),
	}
}

// DefaultMaxBody applies when server.max_body is unset or zero: SPEC 2's
// default.
const DefaultMaxBody = 5 << 20

// New returns the apps of the two listeners, which share their counters.
// It makes the metrics that GET /metrics serves, and sets them as the
// observer of d.Engine and d.Ingester (replacing any earlier one): one New
// per engine and ingester.
//
// The public app serves ingest and health. Its request bodies are
// streamed, so that the ingest handler enforces server.max_body of the
// config in force (reloads apply) and can answer 413 cleanly; fasthttp's
// own limit then only bounds what it reads ahead.
//
// The admin app serves the admin API, the dashboard (/admin/) and /metrics
// behind the admin token, and health without it.
func New(d Deps) (public, admin *fiber.App) {
	d.defaults()
	d.setup()
	return newPublic(d), newAdmin(d)
}

// setup makes the counters the two apps share, and makes the metrics the
// observer of the engine and the ingester.
func (d *Deps) setup() {
	d.pending = newByteBudget()
	d.conns = newConnLimiter(func() int { return d.Ingester.Config().Server.MaxConnsPerClient })
	d.metrics = newMetrics()
	d.Engine.SetObserver(d.metrics)
	d.Ingester.SetObserver(d.metrics)
}

func newPublic(d Deps) *fiber.App {
	// Bodies are streamed to the handler, which enforces max_body and
	// max_pending_bytes. fasthttp's own limit only sets how much it reads
	// ahead before calling the handler: min(limit, 8KB) bytes, or limit+1
	// of a longer body, waiting for them. With a limit of 1 it waits for
	// two bytes at most, so that an unknown source, an oversized declared
	// length or a full budget is answered at once rather than after the
	// client has sent 8KB, and a stalled body holds no read-ahead buffer.
	conf := fiberConfig(1, d.Logger)
	conf.StreamRequestBody = true
	// fasthttp would otherwise read and spool a multipart/form-data body in
	// full, whatever its size, before the handler could refuse it.
	conf.DisablePreParseMultipartForm = true
	app := fiber.New(conf)
	app.Use(recovery(d.Logger))
	app.Use(closeAfterUnexpectedBody)
	h := &ingestHandler{in: d.Ingester, now: d.Now, metrics: d.metrics, budget: d.pending, storeTimeout: d.StoreTimeout,
		log: d.Logger, tracer: d.Tracer}
	app.Post("/webhooks/:source", h.post)
	app.Head("/webhooks/:source", h.head)
	health(app, d)
	// Last: requests no route took still have their body on the wire.
	app.Use(drainUnrouted)
	return app
}

func newAdmin(d Deps) *fiber.App {
	app := fiber.New(fiberConfig(adminBodyLimit, d.Logger))
	app.Use(recovery(d.Logger))
	app.Use(loopbackGuard(d.Ingester))
	app.Use("/admin", bearer(d.Ingester))
	a := &admin{Deps: d}
	api := app.Group("/admin/api")
	api.Get("/status", a.status)
	api.Get("/subscribers", a.subscribers)
	api.Post("/subscribers/:name/redeliver-dead", a.redeliverDead)
	api.Post("/subscribers/:name/replay", a.replay)
	api.Post("/subscribers/:name/pause", a.pause)
	api.Post("/subscribers/:name/resume", a.resume)
	api.Delete("/subscribers/:name/deliveries", a.purge)
	api.Get("/events", a.events)
	api.Get("/events/:id", a.event)
	api.Post("/events/:id/redeliver", a.redeliver)
	api.Get("/dead", a.dead)
	api.Post("/reload", a.reload)
	api.Get("/rates", a.rates)
	app.Get("/admin", dashboard)
	app.Get("/metrics", metricsHandler(d))
	health(app, d)
	return app
}

// health mounts /healthz (the process lives) and /readyz (config loaded
// and the store answers).
func health(app *fiber.App, d Deps) {
	app.Get("/healthz", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.SendString(`{"status":"ok"}`)
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		if d.Ingester.Config() == nil {
			return c.Status(fiber.StatusServiceUnavailable).SendString(`{"status":"unavailable","error":"no config loaded"}`)
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), pingTimeout)
		defer cancel()
		if err := d.Store.Ping(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).SendString(`{"status":"unavailable","error":"store unavailable"}`)
		}
		return c.SendString(`{"status":"ready"}`)
	})
}
