package routes

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// redeliver is POST /admin/api/events/{id}/redeliver[?subscriber=NAME]:
// 202 {queued: N}.
func (a *admin) redeliver(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := strings.Clone(c.Params("id"))
	sub := ""
	if q := c.Query("subscriber"); q != "" {
		name, ok := a.subscriberName(q)
		if !ok {
			return unknownSubscriber(q)
		}
		sub = name
	}
	n, err := a.Store.Redeliver(ctx, id, sub, a.Now())
	if err != nil {
		return fmt.Errorf("admin redeliver %s: %w", id, err)
	}
	if sub != "" {
		a.Engine.Notify(sub)
	} else if rec, err := a.Store.Event(ctx, id); err == nil {
		for _, d := range rec.Deliveries {
			a.Engine.Notify(d.Subscriber)
		}
	} else {
		// The queue is written; the workers' own polling will find it.
		a.Logger.Warn("redeliver: wake subscribers", "event", id, "error", err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"queued": n})
}

// redeliverDead is POST /admin/api/subscribers/{name}/redeliver-dead. A
// removed subscriber's dead deliveries may be queued again too: they wait
// in the store until the subscriber is configured again (or purged).
func (a *admin) redeliverDead(c *fiber.Ctx) error {
	name, err := a.knownSubscriber(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	n, err := a.Store.RedeliverDead(c.UserContext(), name, a.Now())
	if err != nil {
		return fmt.Errorf("admin redeliver dead %s: %w", name, err)
	}
	a.Engine.Notify(name)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"queued": n})
}

func (a *admin) pause(c *fiber.Ctx) error  { return a.setPaused(c, gateway.PauseAdmin) }
func (a *admin) resume(c *fiber.Ctx) error { return a.setPaused(c, gateway.PauseNone) }

// setPaused holds or releases a subscriber's deliveries for every process
// sharing the store (the store's Claim refuses a paused subscriber), then
// tells the local engine, so that it stops claiming, or is woken, at once.
// A resume releases any pause, a 410's (reason gone) included.
func (a *admin) setPaused(c *fiber.Ctx, reason gateway.PauseReason) error {
	name, ok := a.subscriberName(c.Params("name"))
	if !ok {
		return unknownSubscriber(c.Params("name"))
	}
	if err := a.Store.SetPaused(c.UserContext(), name, reason); err != nil {
		return fmt.Errorf("admin pause %s: %w", name, err)
	}
	paused := reason != gateway.PauseNone
	a.Engine.PauseChanged(name, reason)
	return c.JSON(fiber.Map{"name": name, "paused": paused, "paused_reason": reason})
}

// reload is POST /admin/api/reload. A config that does not load is a 422
// carrying the file:line errors; the old config stays in force.
func (a *admin) reload(c *fiber.Ctx) error {
	if a.Reloader == nil {
		return fiber.NewError(fiber.StatusNotImplemented, "reload not available")
	}
	if err := a.Reloader.Reload(); err != nil {
		return fiber.NewError(fiber.StatusUnprocessableEntity, err.Error())
	}
	return c.JSON(fiber.Map{"reloaded": true, "config_loaded_at": a.Reloader.LoadedAt()})
}

// statusView is GET /admin/api/status.
type statusView struct {
	Version           string     `json:"version"`
	ConfigPath        string     `json:"config_path"`
	ConfigLoadedAt    *time.Time `json:"config_loaded_at"`
	LastReloadError   string     `json:"last_reload_error"`
	Store             storeView  `json:"store"`
	Queue             queueView  `json:"queue"`
	Sources           int        `json:"sources"`
	Subscribers       int        `json:"subscribers"`
	RegistrationTests int64      `json:"registration_tests"`
}

// storeView is the store's part of the status. Warnings and orphans
// (gateway.StoreHealth) are there when the store reports its health
// (gateway.HealthReporter) and answers; absent otherwise.
type storeView struct {
	Kind  string `json:"kind"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	*gateway.StoreHealth
}

// queueView sums the counters of the subscribers the store holds work
// for, configured or removed; zero when the store is down.
type queueView struct {
	Pending   int64 `json:"pending"`
	Dead      int64 `json:"dead"`
	Delivered int64 `json:"delivered"`
}

func (a *admin) status(c *fiber.Ctx) error {
	cfg := a.Ingester.Config()
	v := statusView{
		Version:           a.Version,
		ConfigPath:        cfg.Path,
		Store:             storeView{Kind: a.StoreKind, OK: true},
		Sources:           len(cfg.Sources),
		Subscribers:       len(cfg.Subscribers),
		RegistrationTests: a.Ingester.TestRequests(),
	}
	if a.Reloader != nil {
		if t := a.Reloader.LoadedAt(); !t.IsZero() {
			v.ConfigLoadedAt = &t
		}
		v.LastReloadError = a.Reloader.LastReloadError()
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), pingTimeout)
	defer cancel()
	if err := a.Store.Ping(ctx); err != nil {
		// The error text can name the backend's address: keep it in the log.
		a.Logger.Warn("status: store ping", "error", err)
		v.Store.OK, v.Store.Error = false, "unavailable"
		return c.JSON(v)
	}
	v.Store.StoreHealth = a.storeHealth(ctx)
	removed, err := a.removedNames(ctx)
	if err != nil {
		a.Logger.Warn("status: store subscribers", "error", err)
		v.Store.OK, v.Store.Error = false, "unavailable"
		return c.JSON(v)
	}
	for _, name := range append(a.subscriberNames(), removed...) {
		st, err := a.Store.Stats(ctx, name)
		if err != nil {
			v.Store.OK, v.Store.Error = false, "unavailable"
			break
		}
		v.Queue.Pending += st.Pending
		v.Queue.Dead += st.Dead
		v.Queue.Delivered += st.Delivered
	}
	return c.JSON(v)
}

// storeHealth asks the store about its setup, nil when it cannot say (a
// failed check is logged: its text can name the backend's address).
func (a *admin) storeHealth(ctx context.Context) *gateway.StoreHealth {
	hr, ok := a.Store.(gateway.HealthReporter)
	if !ok {
		return nil
	}
	h, err := hr.Health(ctx)
	if err != nil {
		a.Logger.Warn("store health check", "error", err)
		return nil
	}
	if h.Warnings == nil {
		h.Warnings = []string{}
	}
	return &h
}
