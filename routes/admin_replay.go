package routes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// Backfills reports the backfills (SPEC 5 backfill) this process ran or
// runs; the serve command's backfill runner implements it.
type Backfills interface {
	// Backfill returns the subscriber's backfill; ok is false when this
	// process has run none for it.
	Backfill(subscriber string) (p BackfillProgress, ok bool)
}

// BackfillProgress is a subscriber's backfill in this process, the
// backfill field of its GET /admin/api/subscribers row.
type BackfillProgress struct {
	Since  time.Time `json:"since"`  // the window's start; it ends when the subscriber first appeared
	Queued int64     `json:"queued"` // deliveries queued so far by this process
	Done   bool      `json:"done"`
}

// replayRequest is the body of POST /admin/api/subscribers/{name}/replay.
type replayRequest struct {
	Since   *time.Time `json:"since"`   // required, RFC 3339
	Until   *time.Time `json:"until"`   // default now
	Types   []string   `json:"types"`   // event patterns; any may match; default all
	Sources []string   `json:"sources"` // source names; default all
}

// replay is POST /admin/api/subscribers/{name}/replay: 202 {queued: N}
// once the retained events received in [since, until) that the
// subscriber's routing and filter accept (narrowed by types and sources)
// are queued for it again, in receipt order, with the ids they had:
// deliveries delivered or dead are reset, pending ones left as they are.
// It runs in bounded store steps (Store.Requeue) before it answers; a
// window longer than store.retention is refused. Only a configured
// subscriber can be replayed to (a removed one has nowhere to send).
func (a *admin) replay(c *fiber.Ctx) error {
	cfg := a.Ingester.Config()
	sub, ok := cfg.Subscribers[c.Params("name")]
	if !ok {
		return unknownSubscriber(c.Params("name"))
	}
	name, _ := a.subscriberName(c.Params("name"))
	req, err := parseReplay(c.Body())
	if err != nil {
		return err
	}
	now := a.Now()
	w := gateway.TimeWindow{Since: *req.Since, Until: now}
	if req.Until != nil {
		w.Until = *req.Until
	}
	if !w.Since.Before(w.Until) {
		return fiber.NewError(fiber.StatusBadRequest, "since must be before until")
	}
	if d := w.Until.Sub(w.Since); d > cfg.Store.Retention {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(
			"the window (%s) is longer than store.retention (%s): events older than that are not kept", d, cfg.Store.Retention))
	}
	q := gateway.Requeuer{Sub: sub, Sources: req.Sources, FilterError: func(error) { a.Ingester.FilterError(name) }}
	for i, t := range req.Types {
		p, err := gateway.ParsePattern(t)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("types[%d]: %v", i, err))
		}
		q.Types = append(q.Types, p)
	}
	r := gateway.RequeueRange{Subscriber: name, Window: w, Reset: true, Accept: q.Accept, Bodies: q.Bodies(),
		Ordered: sub.Ordering == gateway.OrderingSubject}
	n, err := gateway.RequeueAll(c.UserContext(), a.Store, r, gateway.WalkOptions{Now: a.Now,
		Step: func(res gateway.RequeueResult) {
			if res.Queued > 0 {
				a.Engine.Notify(name) // the workers start while the walk goes on
			}
		}})
	if err != nil {
		if n > 0 {
			a.Engine.Notify(name)
		}
		return fmt.Errorf("admin replay %s (queued %d before the error): %w", name, n, err)
	}
	a.Engine.Notify(name)
	a.Logger.Info("replay queued", "subscriber", name, "since", w.Since, "until", w.Until,
		"types", req.Types, "sources", req.Sources, "queued", n)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"queued": n})
}

// parseReplay reads a replay body strictly: one JSON object of the known
// fields, since set, no empty source name; anything else is a 400.
func parseReplay(body []byte) (replayRequest, error) {
	var req replayRequest
	const want = `want {"since": RFC 3339 time, "until"?: RFC 3339 time, "types"?: [patterns], "sources"?: [names]}`
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fiber.NewError(fiber.StatusBadRequest, "body: "+want+": "+strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return req, fiber.NewError(fiber.StatusBadRequest, "body: "+want+": data after the object")
	}
	if req.Since == nil {
		return req, fiber.NewError(fiber.StatusBadRequest, "since: required (an RFC 3339 time)")
	}
	for i, s := range req.Sources {
		if s == "" {
			return req, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("sources[%d]: empty source name", i))
		}
	}
	return req, nil
}
