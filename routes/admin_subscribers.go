package routes

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// subscriberView is one row of GET /admin/api/subscribers. A removed
// subscriber (no longer in the config, but with pending or dead
// deliveries still in the store) has no url, since the config held it,
// and no breaker, since nothing is sent to it: both are "".
type subscriberView struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Kind is the subscriber's kind: http, or a queue destination
	// (redis_stream, nats, kafka); "" for a removed subscriber.
	Kind    string `json:"kind"`
	Breaker string `json:"breaker"`
	// BreakerNextProbeAt is, while the breaker is open, the earliest its
	// half-open probe goes out (its cooldown after it opened, in this
	// gateway); absent otherwise.
	BreakerNextProbeAt *time.Time `json:"breaker_next_probe_at,omitempty"`
	Paused             bool       `json:"paused"`
	// PausedReason is why it is paused: "admin" (the pause endpoint) or
	// "gone" (it answered 410 Gone); "" when not paused.
	PausedReason  gateway.PauseReason `json:"paused_reason"`
	Removed       bool                `json:"removed"`
	Pending       int64               `json:"pending"`  // pending or retrying
	Retrying      int64               `json:"retrying"` // of pending, those with a failed attempt behind them
	Dead          int64               `json:"dead"`
	Delivered     int64               `json:"delivered"`
	LastSuccessAt *time.Time          `json:"last_success_at"` // null: never
	LastError     string              `json:"last_error"`
	// OldestPendingAt is when the oldest pending or retrying delivery was
	// created (received or redelivered); null when none is waiting.
	OldestPendingAt *time.Time `json:"oldest_pending_at"`
	// Backfill is the subscriber's backfill as this process ran or runs
	// it; absent when it ran none (Deps.Backfills).
	Backfill *BackfillProgress `json:"backfill,omitempty"`
}

// subscribers is GET /admin/api/subscribers: the configured subscribers
// and the removed ones, sorted by name.
func (a *admin) subscribers(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cfg := a.Ingester.Config()
	removed, err := a.removedNames(ctx)
	if err != nil {
		return fmt.Errorf("admin subscribers: %w", err)
	}
	out := make([]subscriberView, 0, len(cfg.Subscribers)+len(removed))
	for _, name := range a.subscriberNames() {
		v, err := a.subscriberRow(ctx, name)
		if err != nil {
			return err
		}
		v.URL = gateway.RedactURL(cfg.Subscribers[name].URL)
		v.Kind = cfg.Subscribers[name].Kind
		v.Breaker = a.Engine.Breaker(name)
		if at, ok := a.Engine.BreakerNextProbe(name); ok && v.Breaker == "open" {
			at = at.UTC()
			v.BreakerNextProbeAt = &at
		}
		if a.Backfills != nil {
			if p, ok := a.Backfills.Backfill(name); ok {
				v.Backfill = &p
			}
		}
		out = append(out, v)
	}
	for _, name := range removed {
		v, err := a.subscriberRow(ctx, name)
		if err != nil {
			return err
		}
		v.Removed = true
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return c.JSON(out)
}

// subscriberRow fills what the store knows of a subscriber.
func (a *admin) subscriberRow(ctx context.Context, name string) (subscriberView, error) {
	st, err := a.Store.Stats(ctx, name)
	if err != nil {
		return subscriberView{}, fmt.Errorf("admin stats %s: %w", name, err)
	}
	paused, err := a.Store.Paused(ctx, name)
	if err != nil {
		return subscriberView{}, fmt.Errorf("admin paused %s: %w", name, err)
	}
	v := subscriberView{
		Name:         name,
		Paused:       paused != gateway.PauseNone,
		PausedReason: paused,
		Pending:      st.Pending,
		Retrying:     st.Retrying,
		Dead:         st.Dead,
		Delivered:    st.Delivered,
		LastError:    st.LastError,
	}
	if !st.LastSuccessAt.IsZero() {
		t := st.LastSuccessAt
		v.LastSuccessAt = &t
	}
	if !st.OldestPendingAt.IsZero() {
		t := st.OldestPendingAt
		v.OldestPendingAt = &t
	}
	return v, nil
}

// purge is DELETE /admin/api/subscribers/{name}/deliveries: 200
// {purged: N}, the pending, retrying and dead deliveries of a removed
// subscriber deleted. A configured subscriber's work is its dispatcher's,
// so purging it is a 409: remove it from the config first.
func (a *admin) purge(c *fiber.Ctx) error {
	q := c.Params("name")
	if _, ok := a.Ingester.Config().Subscribers[q]; ok {
		return fiber.NewError(fiber.StatusConflict, fmt.Sprintf(
			"subscriber %q is in the config: only a removed subscriber's deliveries can be purged", q))
	}
	ctx := c.UserContext()
	name, err := a.knownSubscriber(ctx, q)
	if err != nil {
		return err
	}
	n, err := a.Store.Purge(ctx, name)
	if err != nil {
		return fmt.Errorf("admin purge %s: %w", name, err)
	}
	a.Logger.Info("purged a removed subscriber's deliveries", "subscriber", name, "purged", n)
	return c.JSON(fiber.Map{"purged": n})
}

// subscriberNames lists the configured subscribers, sorted.
func (a *admin) subscriberNames() []string {
	subs := a.Ingester.Config().Subscribers
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// removedNames lists, sorted, the subscribers the store holds pending or
// dead deliveries for that are not in the config in force.
func (a *admin) removedNames(ctx context.Context) ([]string, error) {
	held, err := a.Store.Subscribers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list store subscribers: %w", err)
	}
	subs := a.Ingester.Config().Subscribers
	var out []string
	for _, n := range held {
		if _, ok := subs[n]; !ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// subscriberName returns the config's own copy of a configured
// subscriber's name, which outlives the request buffer q points into.
func (a *admin) subscriberName(q string) (string, bool) {
	sub, ok := a.Ingester.Config().Subscribers[q]
	if !ok {
		return "", false
	}
	if sub.Name != "" {
		return sub.Name, true
	}
	return strings.Clone(q), true
}

// knownSubscriber resolves q to a configured subscriber or a removed one
// whose work is still in the store (a copy that outlives the request); a
// 404 for any other name.
func (a *admin) knownSubscriber(ctx context.Context, q string) (string, error) {
	if name, ok := a.subscriberName(q); ok {
		return name, nil
	}
	removed, err := a.removedNames(ctx)
	if err != nil {
		return "", fmt.Errorf("admin subscriber %s: %w", q, err)
	}
	if i, ok := sort.Find(len(removed), func(i int) int { return strings.Compare(q, removed[i]) }); ok {
		return removed[i], nil
	}
	return "", unknownSubscriber(q)
}

func unknownSubscriber(name string) error {
	return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("unknown subscriber %q", name))
}
