package gateway

import "fmt"

// DeadReason is why a delivery is dead: the admin API's dead_reason. The
// delivery engine's retry policy decides it, in the same step that decides
// the delivery is dead; the store keeps it with the delivery until a
// redelivery clears it.
type DeadReason string

// Dead reasons (SPEC 5). DeadUnknown is a delivery that is not dead, or
// one that died before reasons were recorded.
const (
	DeadUnknown DeadReason = ""
	// DeadPermanent: the subscriber answered a 4xx other than 408, 410 and
	// 429; trying again would get the same answer.
	DeadPermanent DeadReason = "permanent"
	// DeadAttempts: the attempt that failed was retry.max_attempts'.
	DeadAttempts DeadReason = "attempts"
	// DeadMaxAge: an attempt failed after retry.max_age had passed since
	// the delivery was created (or redelivered).
	DeadMaxAge DeadReason = "max_age"
	// DeadGone: the subscriber answered 410 Gone (and was paused, reason
	// gone).
	DeadGone DeadReason = "gone"
	// DeadTransform: the subscriber's transform failed on this event at
	// run time; the request was not sent.
	DeadTransform DeadReason = "transform"
)

// DeadReasons returns every reason a delivery is recorded dead with, in the
// order the admin API lists them.
func DeadReasons() []DeadReason {
	return []DeadReason{DeadPermanent, DeadAttempts, DeadMaxAge, DeadGone, DeadTransform}
}

// Valid reports whether r is one of DeadReasons (DeadUnknown is not).
func (r DeadReason) Valid() bool {
	switch r {
	case DeadPermanent, DeadAttempts, DeadMaxAge, DeadGone, DeadTransform:
		return true
	}
	return false
}

// DeadFilter selects dead deliveries for Store.Dead. Zero fields match
// everything.
type DeadFilter struct {
	// Reason: only deliveries dead for this reason. Deliveries that died
	// before reasons were recorded match no reason.
	Reason DeadReason
	Limit  int // at most this many; default 50, capped at MaxPage
}

// DeadScan bounds the dead deliveries one Store.Dead call with a Reason
// examines, most recently dead first: the call stays cheap however many
// deliveries are dead, and a reason rarer than that among the newest
// comes back short.
const DeadScan = 5000

// CheckOutcome returns ErrInvalid, wrapped with the reason, for an outcome
// a store must refuse: a status other than delivered, retrying or dead,
// or a dead reason that is not among DeadReasons or not on a dead
// outcome. Stores call it first in Record, so that what they keep stays
// within the few values the admin API knows.
func CheckOutcome(o Outcome) error {
	switch o.Status {
	case StatusDelivered, StatusRetrying, StatusDead:
	default:
		return fmt.Errorf("%w: outcome status %q is not delivered, retrying or dead", ErrInvalid, o.Status)
	}
	switch {
	case o.DeadReason == DeadUnknown:
	case o.Status != StatusDead:
		return fmt.Errorf("%w: dead reason %q on a %s outcome", ErrInvalid, o.DeadReason, o.Status)
	case !o.DeadReason.Valid():
		return fmt.Errorf("%w: dead reason %q is not one of %v", ErrInvalid, o.DeadReason, DeadReasons())
	}
	return nil
}
