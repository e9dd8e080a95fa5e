package routes

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// admin serves /admin/api. Its handlers read the config in force from the
// Ingester on every request, so reloads need no rebuild. fiber.Ctx values
// (params, queries) are cloned before they reach the store.
type admin struct {
	Deps
	requests *requestCounts
}

// eventView is GET /admin/api/events/{id}.
type eventView struct {
	Event      json.RawMessage `json:"event"`
	ReceivedAt time.Time       `json:"received_at"`
	Duplicates int             `json:"duplicates"`
	Deliveries []deliveryView  `json:"deliveries"`
}

// deliveryView is one delivery in the admin API. Every field the SPEC names
// is always present (no omitempty), so that clients need no defaults.
type deliveryView struct {
	EventID        string                 `json:"event_id,omitempty"` // in /dead only
	Subscriber     string                 `json:"subscriber"`
	Status         gateway.DeliveryStatus `json:"status"`
	Attempts       int                    `json:"attempts"`
	CreatedAt      time.Time              `json:"created_at"`
	NextAttemptAt  *time.Time             `json:"next_attempt_at"`
	LastStatusCode int                    `json:"last_status_code"`
	LastError      string                 `json:"last_error"`
	History        []gateway.Attempt      `json:"history"`
}

func newDeliveryView(d gateway.DeliveryRecord, withEventID bool) deliveryView {
	v := deliveryView{
		Subscriber:     d.Subscriber,
		Status:         d.Status,
		Attempts:       d.Attempts,
		CreatedAt:      d.CreatedAt,
		NextAttemptAt:  d.NextAttemptAt,
		LastStatusCode: d.LastStatusCode,
		LastError:      d.LastError,
		History:        d.History,
	}
	if withEventID {
		v.EventID = d.EventID
	}
	if v.History == nil {
		v.History = []gateway.Attempt{}
	}
	return v
}

// subscriberView is one row of GET /admin/api/subscribers.
type subscriberView struct {
	Name          string     `json:"name"`
	URL           string     `json:"url"`
	Breaker       string     `json:"breaker"`
	Paused        bool       `json:"paused"`
	Pending       int64      `json:"pending"`
	Dead          int64      `json:"dead"`
	Delivered     int64      `json:"delivered"`
	LastSuccessAt *time.Time `json:"last_success_at"` // null: never
	LastError     string     `json:"last_error"`
}

func (a *admin) event(c *fiber.Ctx) error {
	rec, err := a.Store.Event(c.UserContext(), strings.Clone(c.Params("id")))
	if err != nil {
		return fmt.Errorf("admin event: %w", err)
	}
	v := eventView{
		Event:      rec.Envelope,
		ReceivedAt: rec.ReceivedAt,
		Duplicates: rec.Duplicates,
		Deliveries: make([]deliveryView, 0, len(rec.Deliveries)),
	}
	for _, d := range rec.Deliveries {
		v.Deliveries = append(v.Deliveries, newDeliveryView(d, false))
	}
	return c.JSON(v)
}

func (a *admin) events(c *fiber.Ctx) error {
	f := gateway.EventFilter{
		Source:     strings.Clone(c.Query("source")),
		Type:       strings.Clone(c.Query("type")),
		Subscriber: strings.Clone(c.Query("subscriber")),
		Cursor:     strings.Clone(c.Query("cursor")),
	}
	switch st := gateway.DeliveryStatus(c.Query("status")); st {
	case "", gateway.StatusPending, gateway.StatusRetrying, gateway.StatusDelivered,
		gateway.StatusDead, gateway.StatusUnrouted:
		f.Status = gateway.DeliveryStatus(strings.Clone(string(st)))
	default:
		return fiber.NewError(fiber.StatusBadRequest,
			"status: want pending, retrying, delivered, dead or unrouted")
	}
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	f.Limit = limit
	page, err := a.Store.List(c.UserContext(), f)
	if err != nil {
		return fmt.Errorf("admin list events: %w", err)
	}
	if page.Events == nil {
		page.Events = []gateway.EventSummary{}
	}
	return c.JSON(page)
}

// deadLimit is the default page of GET /admin/api/dead.
const deadLimit = 100

func (a *admin) dead(c *fiber.Ctx) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = deadLimit
	}
	names := a.subscriberNames()
	if q := c.Query("subscriber"); q != "" {
		name, ok := a.subscriberName(q)
		if !ok {
			return unknownSubscriber(q)
		}
		names = []string{name}
	}
	out := []deliveryView{}
	for _, name := range names {
		recs, err := a.Store.Dead(c.UserContext(), name, limit)
		if err != nil {
			return fmt.Errorf("admin dead %s: %w", name, err)
		}
		for _, d := range recs {
			out = append(out, newDeliveryView(d, true))
		}
	}
	return c.JSON(out)
}

func (a *admin) subscribers(c *fiber.Ctx) error {
	cfg := a.Ingester.Config()
	out := make([]subscriberView, 0, len(cfg.Subscribers))
	for _, name := range a.subscriberNames() {
		st, err := a.Store.Stats(c.UserContext(), name)
		if err != nil {
			return fmt.Errorf("admin stats %s: %w", name, err)
		}
		paused, err := a.Store.Paused(c.UserContext(), name)
		if err != nil {
			return fmt.Errorf("admin paused %s: %w", name, err)
		}
		v := subscriberView{
			Name:      name,
			URL:       redactURL(cfg.Subscribers[name].URL),
			Breaker:   a.Engine.Breaker(name),
			Paused:    paused,
			Pending:   st.Pending,
			Dead:      st.Dead,
			Delivered: st.Delivered,
			LastError: st.LastError,
		}
		if !st.LastSuccessAt.IsZero() {
			t := st.LastSuccessAt
			v.LastSuccessAt = &t
		}
		out = append(out, v)
	}
	return c.JSON(out)
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

// subscriberName returns the config's own copy of a subscriber name, which
// outlives the request buffer q points into.
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

func unknownSubscriber(name string) error {
	return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("unknown subscriber %q", name))
}

// queryLimit parses ?limit=, 0 when absent.
func queryLimit(c *fiber.Ctx) (int, error) {
	q := c.Query("limit")
	if q == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 {
		return 0, fiber.NewError(fiber.StatusBadRequest, "limit: want a positive integer")
	}
	return n, nil
}

// redactURL hides a password in a subscriber URL's userinfo: the admin API
// never shows secrets.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
