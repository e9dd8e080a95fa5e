package routes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/filter"
)

// admin serves /admin/api. Its handlers read the config in force from the
// Ingester on every request, so reloads need no rebuild. fiber.Ctx values
// (params, queries) are cloned before they reach the store.
type admin struct {
	Deps
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
	// DeadReason is why a dead delivery died (gateway.DeadReasons), or
	// "unknown" for one that died before reasons were recorded; "" while
	// the delivery is not dead.
	DeadReason string `json:"dead_reason"`
	// WaitingOn: ordering: subject holds this delivery back until the
	// named event's delivery of the same subject is delivered or dead.
	WaitingOn string            `json:"waiting_on,omitempty"`
	History   []gateway.Attempt `json:"history"`
}

// deadView is one entry of GET /admin/api/dead: the delivery, and the
// last attempt's response excerpt (null when it got none), which is
// what an operator looks at first to see why it died.
type deadView struct {
	deliveryView
	// Type and Subject are the event's, so that the list says what died
	// without a visit to each event.
	Type     string                   `json:"type"`
	Subject  string                   `json:"subject"`
	Response *gateway.AttemptResponse `json:"response"`
}

// deadUnknown is the admin API's dead_reason for a delivery that died
// before reasons were recorded.
const deadUnknown = "unknown"

func newDeliveryView(d gateway.DeliveryRecord, withEventID bool) deliveryView {
	v := deliveryView{
		Subscriber:     d.Subscriber,
		Status:         d.Status,
		Attempts:       d.Attempts,
		CreatedAt:      d.CreatedAt,
		NextAttemptAt:  d.NextAttemptAt,
		LastStatusCode: d.LastStatusCode,
		LastError:      d.LastError,
		WaitingOn:      d.WaitingOn,
		History:        d.History,
	}
	if d.Status == gateway.StatusDead {
		v.DeadReason = string(d.DeadReason)
		if d.DeadReason == gateway.DeadUnknown {
			v.DeadReason = deadUnknown
		}
	}
	if withEventID {
		v.EventID = d.EventID
	}
	if v.History == nil {
		v.History = []gateway.Attempt{}
	}
	return v
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
		Subject:    strings.Clone(c.Query("subject")),
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
	if q := c.Query("q"); q != "" {
		query, err := filter.CompileQuery(strings.Clone(q))
		if err != nil {
			return fmt.Errorf("q: %w", err)
		}
		f.Match = query.Match
	}
	page, err := a.Store.List(c.UserContext(), f)
	if err != nil {
		return fmt.Errorf("admin list events: %w", err)
	}
	if page.Events == nil {
		page.Events = []gateway.EventSummary{}
	}
	return c.JSON(page)
}

// deadLimit is the default page of GET /admin/api/dead. Without
// ?subscriber= the page is per subscriber, configured and removed ones
// alike.
const deadLimit = 100

// deadReasonHelp is the 400 answer to an unknown ?reason=.
var deadReasonHelp = func() string {
	var names []string
	for _, r := range gateway.DeadReasons() {
		names = append(names, string(r))
	}
	return "reason: want one of " + strings.Join(names, ", ")
}()

func (a *admin) dead(c *fiber.Ctx) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = deadLimit
	}
	f := gateway.DeadFilter{Limit: limit}
	if q := c.Query("reason"); q != "" {
		if f.Reason = gateway.DeadReason(strings.Clone(q)); !f.Reason.Valid() {
			return fiber.NewError(fiber.StatusBadRequest, deadReasonHelp)
		}
	}
	ctx := c.UserContext()
	var names []string
	if q := c.Query("subscriber"); q != "" {
		name, err := a.knownSubscriber(ctx, q)
		if err != nil {
			return err
		}
		names = []string{name}
	} else {
		removed, err := a.removedNames(ctx)
		if err != nil {
			return fmt.Errorf("admin dead: %w", err)
		}
		names = append(a.subscriberNames(), removed...)
	}
	out := []deadView{}
	for _, name := range names {
		recs, err := a.Store.Dead(ctx, name, f)
		if err != nil {
			return fmt.Errorf("admin dead %s: %w", name, err)
		}
		for _, d := range recs {
			v := deadView{deliveryView: newDeliveryView(d, true), Type: d.Type, Subject: d.Subject}
			if n := len(d.History); n > 0 {
				v.Response = d.History[n-1].Response
			}
			out = append(out, v)
		}
	}
	return c.JSON(out)
}

// queryLimit parses ?limit=, 0 when absent. Anything but a whole number
// from 1 to gateway.MaxPage is a 400: the store would cap a larger one
// silently, and a client asking for more than a page should know it got
// less.
func queryLimit(c *fiber.Ctx) (int, error) {
	q := c.Query("limit")
	if q == "" {
		return 0, nil
	}
	// Atoi refuses junk, exponents and values past int: all 400.
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 {
		return 0, fiber.NewError(fiber.StatusBadRequest,
			fmt.Sprintf("limit: want a whole number from 1 to %d", gateway.MaxPage))
	}
	if n > gateway.MaxPage {
		return 0, fiber.NewError(fiber.StatusBadRequest,
			fmt.Sprintf("limit: at most %d", gateway.MaxPage))
	}
	return n, nil
}
