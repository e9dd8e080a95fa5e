package gateway

import "errors"

// Sentinel errors. Wrap them with fmt.Errorf("op: %w", err); routes/ maps
// them to HTTP status codes in one place.
var (
	// ErrSignature: the request's signature is missing or matches none of the
	// source's secrets. Answered 401.
	ErrSignature = errors.New("signature missing or invalid")
	// ErrPayload: the body is authentic but is not a payload of the provider.
	// Wrapped with a short reason. Answered 400.
	ErrPayload = errors.New("malformed payload")
	// ErrUnknownSource: no source of that name is configured. Answered 404.
	ErrUnknownSource = errors.New("unknown source")
	// ErrTooLarge: the body exceeds server.max_body. Answered 413.
	ErrTooLarge = errors.New("body too large")
	// ErrOverloaded: taking the request would pass server.max_pending_bytes,
	// the bound on request bodies in memory. Answered 503 with Retry-After,
	// the rest of the body left unread, so that the provider retries.
	ErrOverloaded = errors.New("too many request bodies in memory; retry later")
	// ErrUnavailable: the store could not be reached or did not confirm a
	// write. Answered 503 so that the provider retries.
	ErrUnavailable = errors.New("store unavailable")
	// ErrNotFound: no such event, delivery or subscriber. Answered 404.
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost: the claim on a delivery expired and the delivery may now
	// be in another worker's hands; the caller's result was not recorded.
	ErrLeaseLost = errors.New("delivery lease lost")
	// ErrConflict: the delivery is in a worker's hands right now (its lease
	// has not ended); redelivering it would start a second send alongside
	// the first. Answered 409: try again once the attempt is recorded.
	ErrConflict = errors.New("delivery in flight")
	// ErrInvalid: a request to the store or admin API is malformed (a bad
	// list cursor, an unknown status). Wrapped with the reason. Answered 400.
	ErrInvalid = errors.New("invalid request")
	// ErrLocked: another process holds the store (embedded store only).
	ErrLocked = errors.New("store locked by another process")
)
