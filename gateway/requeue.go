package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Replay and backfill (SPEC 5 backfill, SPEC 6 replay) are one machinery:
// a walk over the retained events of a receipt window, oldest first, in
// bounded steps (Store.Requeue), that gives a subscriber a delivery of each
// event its routing and filter accept (SubscriberConfig.Accepts).

// Bounds of one Requeue step: it examines at most RequeueBatch events and,
// when it reads bodies, stops after about RequeueBytes of them, so that a
// step holds the store (a bolt write transaction, a Redis script) for a
// few milliseconds and Put and Claim are not held up behind a long walk.
const (
	RequeueBatch = 256
	RequeueBytes = 4 << 20
)

// TimeWindow is a span of receipt times, Since included, Until excluded.
// The zero TimeWindow is none.
type TimeWindow struct {
	Since, Until time.Time
}

// IsZero reports whether w is no window at all.
func (w TimeWindow) IsZero() bool { return w.Since.IsZero() && w.Until.IsZero() }

// Empty reports whether w holds no instant: Until not after Since.
func (w TimeWindow) Empty() bool { return !w.Until.After(w.Since) }

// RequeueRange is one step of a walk (Store.Requeue).
type RequeueRange struct {
	Subscriber string
	// Window bounds the events' receipt times.
	Window TimeWindow
	// After is the position the previous step returned
	// (RequeueResult.Next); "" starts at Window.Since.
	After string
	// Reset queues again a delivered or dead delivery the subscriber
	// already has (replay). Without it only events with no delivery to
	// the subscriber get one (backfill): a walk can then be repeated, or
	// run by two gateways at once, without anything sent twice.
	Reset bool
	// Accept approves an event; nil approves every one. It is called
	// outside the store's transactions and locks.
	Accept func(RequeueEvent) bool
	// Bodies: give Accept each event's stored body (a filter reads it);
	// otherwise RequeueEvent.Body is nil and no body is read.
	Bodies bool
	// Max bounds the events the step examines; 0 or more than
	// RequeueBatch: RequeueBatch. Tests make it small.
	Max int
	// Ordered: the subscriber has ordering: subject. Each delivery queued
	// takes its place in its subject's line by receipt time (Store's
	// doc): before the head when the head is newer and not yet tried or
	// in a worker's hands, else waiting among the others.
	Ordered bool
}

// RequeueEvent is a retained event as Requeue shows it to Accept.
type RequeueEvent struct {
	ID, Source, Type, Subject string
	ReceivedAt                time.Time
	Body                      []byte // the stored envelope; nil unless RequeueRange.Bodies
}

// RequeueResult is what one Requeue step did.
type RequeueResult struct {
	Queued   int // deliveries created or reset
	Examined int // events of the window looked at
	// Next is where the next step goes on (RequeueRange.After); "" once
	// the window is done.
	Next string
}

// Accepts reports whether the subscriber takes the event in in: its
// sources and events patterns (Wants), then its filter. Ingest decides
// the same way (its route cache holds Wants, then the filter runs); replay
// and backfill ask this of every stored event. A filter error counts as
// not accepted and is returned, for the caller to count.
func (s *SubscriberConfig) Accepts(in *FilterInput) (bool, error) {
	if !s.Wants(in.env.Source, in.env.Type) {
		return false, nil
	}
	if s.CompiledFilter == nil {
		return true, nil
	}
	return s.CompiledFilter.Match(in)
}

// Requeuer builds the Accept of a walk for one subscriber: its routing
// and filter, narrowed by Types and Sources when set (replay's).
type Requeuer struct {
	Sub     *SubscriberConfig
	Types   []Pattern // any of them must match; none: all types
	Sources []string  // the event's source must be one; none: all sources
	// FilterError is called for each event the filter failed on (the
	// event is then not accepted); nil: not counted.
	FilterError func(err error)
}

// Bodies reports whether Accept needs the stored bodies: only a filter
// reads them.
func (q Requeuer) Bodies() bool { return q.Sub.CompiledFilter != nil }

// Accept is RequeueRange.Accept for q. A stored body that does not decode
// (it was encoded by hookgate, so only damage does that) is not accepted.
func (q Requeuer) Accept(ev RequeueEvent) bool {
	if len(q.Sources) > 0 && !contains(q.Sources, ev.Source) {
		return false
	}
	if len(q.Types) > 0 && !matchesAny(q.Types, ev.Type) {
		return false
	}
	env := Envelope{ID: ev.ID, Source: ev.Source, Type: ev.Type, Subject: ev.Subject}
	if q.Bodies() {
		if err := json.Unmarshal(ev.Body, &env); err != nil {
			q.filterError(fmt.Errorf("decode stored envelope %s: %w", ev.ID, err))
			return false
		}
		// The index's fields are what routing saw at ingest.
		env.Source, env.Type = ev.Source, ev.Type
	}
	ok, err := q.Sub.Accepts(NewFilterInput(env))
	if err != nil {
		q.filterError(err)
		return false
	}
	return ok
}

func (q Requeuer) filterError(err error) {
	if q.FilterError != nil {
		q.FilterError(err)
	}
}

func matchesAny(ps []Pattern, typ string) bool {
	for _, p := range ps {
		if p.Match(typ) {
			return true
		}
	}
	return false
}

// WalkOptions pace RequeueAll.
type WalkOptions struct {
	// Now gives each step's now (the queued deliveries' CreatedAt);
	// default time.Now.
	Now func() time.Time
	// Pause is waited between steps, so that a long walk leaves the store
	// to live traffic; 0: none.
	Pause time.Duration
	// Step, if set, is called after each step that succeeded.
	Step func(RequeueResult)
}

// RequeueAll walks r's whole window, a Requeue step at a time from
// r.After, and returns how many deliveries it queued. On error it returns
// what the steps before queued (they stay queued) with the error.
func RequeueAll(ctx context.Context, s Store, r RequeueRange, o WalkOptions) (int, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	total := 0
	for {
		res, err := s.Requeue(ctx, r, o.Now())
		if err != nil {
			return total, fmt.Errorf("requeue %s: %w", r.Subscriber, err)
		}
		total += res.Queued
		if o.Step != nil {
			o.Step(res)
		}
		if res.Next == "" {
			return total, nil
		}
		r.After = res.Next
		if o.Pause > 0 {
			t := time.NewTimer(o.Pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return total, fmt.Errorf("requeue %s: %w", r.Subscriber, ctx.Err())
			case <-t.C:
			}
		}
	}
}
