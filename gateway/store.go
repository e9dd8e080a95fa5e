package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// DeliveryStatus is the state of one event's delivery to one subscriber.
type DeliveryStatus string

// Delivery states. A delivery starts pending, is retrying after a failed
// attempt that may be tried again, and ends delivered or dead. The admin API
// can put a delivered or dead delivery back to pending (redeliver).
const (
	StatusPending   DeliveryStatus = "pending"
	StatusRetrying  DeliveryStatus = "retrying"
	StatusDelivered DeliveryStatus = "delivered"
	StatusDead      DeliveryStatus = "dead"
	// StatusUnrouted is an event's status (never a delivery's) when no
	// subscriber matched it.
	StatusUnrouted DeliveryStatus = "unrouted"
)

// NewEvent is one event to store, with the subscribers it is to reach.
type NewEvent struct {
	Envelope Envelope // ID, Source, Type and Subject are indexed
	// Body is the envelope serialized; these exact bytes are signed and sent.
	Body        []byte
	ReceivedAt  time.Time
	Subscribers []string // one delivery each, due at ReceivedAt
	// Ordered names subscribers with ordering: subject (names not among
	// Subscribers are ignored). When the event has a subject, its delivery
	// to each of them waits (is not claimable) while an earlier delivery
	// of the same subject to that subscriber is pending or retrying; see
	// Store.
	Ordered []string
}

// PutResult tells what Put did with one NewEvent.
type PutResult struct {
	// Duplicate: an event with this id is known (see Store.Put). Nothing
	// was stored and no delivery made; the stored event's duplicates
	// counter, if it is still stored, counts it.
	Duplicate bool
}

// Claim is a delivery leased to one worker by Store.Claim.
type Claim struct {
	EventID    string
	Subscriber string
	Attempts   int       // attempts made before this claim
	CreatedAt  time.Time // when the delivery was created or last redelivered; max_age counts from here
	Body       []byte    // the stored envelope
	Token      string    // identifies this lease; Record and Release need it
}

// Attempt is one recorded try to deliver.
type Attempt struct {
	N          int           `json:"attempt"` // 1-based; set by the store
	At         time.Time     `json:"at"`
	Duration   time.Duration `json:"-"`
	StatusCode int           `json:"status_code"` // 0: no response
	Error      string        `json:"error"`
	// Redelivered marks the first attempt after a manual redelivery (the
	// admin API's redeliver or redeliver-dead); set by the store. Numbers
	// go on from the attempts before it, while the retry policy counts
	// afresh from the redelivery (Claim.Attempts).
	Redelivered bool `json:"redelivered,omitempty"`
	// Response is an excerpt of the subscriber's answer to a failed
	// attempt; nil for a delivered attempt and for one that got no answer.
	Response *AttemptResponse `json:"response"`
}

// MaxResponseExcerpt bounds AttemptResponse.Body, in bytes: an excerpt
// says why a delivery failed, and every failed attempt stores one.
const MaxResponseExcerpt = 1024

// AttemptResponse is what a subscriber answered to a failed attempt, as
// recorded: never the whole body.
type AttemptResponse struct {
	ContentType string `json:"content_type"`
	// Body is at most MaxResponseExcerpt bytes of the body, as text
	// (invalid UTF-8 replaced), with any secret of ours sent in the
	// request (a configured header value, the URL's credentials) redacted.
	Body string `json:"body"`
}

// MarshalJSON renders Duration as duration_ms, the admin API's field, in
// milliseconds to the microsecond (0.42): a subscriber on the same network
// answers in well under a millisecond, and a whole number would show 0.
func (a Attempt) MarshalJSON() ([]byte, error) {
	type plain Attempt
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(a), float64(a.Duration.Microseconds()) / 1000})
}

// Outcome is what became of one attempt.
type Outcome struct {
	Attempt Attempt
	// Status is StatusDelivered, StatusRetrying or StatusDead.
	Status DeliveryStatus
	// NextAttemptAt is when a StatusRetrying delivery is due again.
	NextAttemptAt time.Time
	// DeadReason is why a StatusDead delivery died (DeadUnknown when the
	// caller cannot say); it must be DeadUnknown for any other status.
	DeadReason DeadReason
}

// DeliveryRecord is a delivery as the admin API shows it.
type DeliveryRecord struct {
	EventID        string         `json:"event_id"`
	Subscriber     string         `json:"subscriber"`
	Status         DeliveryStatus `json:"status"`
	Attempts       int            `json:"attempts"`
	CreatedAt      time.Time      `json:"created_at"`
	NextAttemptAt  *time.Time     `json:"next_attempt_at"` // nil once delivered or dead
	LastStatusCode int            `json:"last_status_code,omitempty"`
	LastError      string         `json:"last_error,omitempty"`
	// DeadReason is why a dead delivery died: DeadUnknown while it is
	// not dead, and for one that died before reasons were recorded.
	DeadReason DeadReason `json:"dead_reason,omitempty"`
	// Type and Subject are the event's, filled in by Dead so that a dead
	// listing says what died (Event has them on the EventRecord).
	Type    string `json:"type,omitempty"`
	Subject string `json:"subject,omitempty"`
	// WaitingOn is, for an ordered delivery held back, the event whose
	// delivery of the same subject goes first.
	WaitingOn string    `json:"waiting_on,omitempty"`
	History   []Attempt `json:"history"` // oldest first
}

// EventRecord is a stored event with its deliveries.
type EventRecord struct {
	Envelope   json.RawMessage // the stored body
	ID         string
	Source     string
	Type       string
	Subject    string
	ReceivedAt time.Time
	Duplicates int              // redeliveries recognized by Put
	Deliveries []DeliveryRecord // sorted by subscriber
}

// EventFilter selects events for Store.List. Zero fields match everything.
type EventFilter struct {
	Source     string
	Type       string
	Subject    string // exact match
	Subscriber string // events with a delivery to this subscriber
	// Status: events with at least one delivery (to Subscriber, if set) in
	// this status; StatusUnrouted: events with no delivery.
	Status DeliveryStatus
	Limit  int    // at most this many; default 50, capped at MaxPage
	Cursor string // from a previous EventPage; "" for the newest
	// Match, when set, is a last test of each event that passes the
	// other filters, given its stored envelope (the admin API's ?q=, a
	// CEL expression). It runs in the caller's process, outside the
	// store's transactions and locks, and must not keep body after it
	// returns. Events it is asked about count against the same scan
	// budget as any other (Store.List), and a call reads about
	// ListMatchBytes of bodies at most, so a page with Match comes back
	// short (even empty) with a NextCursor more often than one without.
	Match func(body []byte) bool
}

// ListMatchBytes bounds the stored bodies one Store.List call with
// EventFilter.Match reads (the first body is read whatever its size): a
// search costs a few megabytes of reads and decoding per page, however
// many events the scan budget passes over.
const ListMatchBytes = 4 << 20

// MaxPage caps EventFilter.Limit and Store.Dead's limit: larger asks get
// this many (the admin API refuses them with 400 before they get here).
const MaxPage = 500

// StoreHealth is what a store can tell an operator about its own setup.
type StoreHealth struct {
	// Warnings name settings under which the store may lose or evict
	// accepted events (a Redis without AOF, or with an evicting
	// maxmemory-policy), or refuses every write (replicas it must wait
	// for but cannot count or find); empty when none. Never holds an
	// address or password.
	Warnings []string `json:"warnings"`
	// Orphans counts queue entries found without their event (or with a
	// record in its place that cannot be read) since the store was
	// opened: each was dropped, not delivered, so that the rest of the
	// queue flows. Always 0 unless something outside hookgate deleted or
	// overwrote data.
	Orphans int64 `json:"orphans"`
	// Corrupt counts the records that did not decode and were set aside
	// (kept in the store for inspection) rather than block their queue:
	// an event set aside is not delivered; a delivery set aside left its
	// queue and can be redelivered. Always 0 unless the disk, or something
	// outside hookgate, damaged data.
	Corrupt int64 `json:"corrupt"`
}

// HealthReporter is implemented by stores that can check their setup. The
// serve command logs the warnings at start, and the admin status shows
// them.
type HealthReporter interface {
	Health(ctx context.Context) (StoreHealth, error)
}

// EventSummary is one row of an event listing.
type EventSummary struct {
	ID         string         `json:"id"`
	Source     string         `json:"source"`
	Type       string         `json:"type"`
	Subject    string         `json:"subject,omitempty"`
	ReceivedAt time.Time      `json:"received_at"`
	Status     DeliveryStatus `json:"status"` // see EventStatus
	// Deliveries is each delivery's own status, by subscriber: what the
	// rolled-up Status hides when one subscriber got the event and
	// another is retrying. Empty (never nil from a store) when unrouted.
	Deliveries map[string]DeliveryStatus `json:"deliveries"`
}

// EventPage is one page of an event listing, newest first.
type EventPage struct {
	Events     []EventSummary `json:"events"`
	NextCursor string         `json:"next_cursor"` // "" on the last page
	// Scanned is how many index entries the call examined: its share of
	// the scan budget spent, matching or not.
	Scanned int `json:"scanned"`
	// SearchedUntil is how far back the call searched: every matching
	// event received after it (and before the cursor) is on this page
	// or an earlier one; the next page starts at or before it. It is the
	// receipt time of the oldest event examined when the listing ended
	// (NextCursor ""), and nil when nothing was examined.
	SearchedUntil *time.Time `json:"searched_until"`
}

// SubscriberStats are the store's counters for one subscriber.
type SubscriberStats struct {
	Pending  int64 // pending or retrying, held or not
	Retrying int64 // of Pending, those with a failed attempt behind them
	// OldestPendingAt is when the oldest pending or retrying delivery was
	// created (received, or redelivered); zero when none is.
	OldestPendingAt time.Time
	Dead            int64     // dead and not yet expired or redelivered
	Delivered       int64     // ever delivered (within the store's lifetime)
	LastSuccessAt   time.Time // zero if never
	LastError       string    // of the latest failed attempt, "" if none since the last success
}

// EventStatus sums up deliveries for listings: dead if any is dead, else
// retrying if any is, else pending if any is, else delivered; unrouted when
// there are none.
func EventStatus(deliveries []DeliveryStatus) DeliveryStatus {
	if len(deliveries) == 0 {
		return StatusUnrouted
	}
	rank := map[DeliveryStatus]int{StatusDelivered: 0, StatusPending: 1, StatusRetrying: 2, StatusDead: 3}
	worst := StatusDelivered
	for _, s := range deliveries {
		if rank[s] > rank[worst] {
			worst = s
		}
	}
	return worst
}

// PauseReason is why a subscriber's deliveries are held: the admin API's
// paused_reason.
type PauseReason string

// Pause reasons. PauseNone is not paused.
const (
	PauseNone PauseReason = ""
	// PauseAdmin: paused by the admin API.
	PauseAdmin PauseReason = "admin"
	// PauseGone: the subscriber answered 410 Gone (SPEC 5), in any
	// gateway sharing the store; held until resumed.
	PauseGone PauseReason = "gone"
)

// LineSubjectMax is the longest subject that names its ordered line (a
// store key) as it is; a longer one is named by its hash, in every
// backend. Subjects of a real catalog are far shorter; the bound keeps a
// hostile 40,000-character id within a key's limits (bbolt's is 32 KB).
const LineSubjectMax = 1024

// Store keeps events and their deliveries durably. Implementations live in
// gateway/<backend> and register with RegisterStore.
//
// Ordered deliveries (NewEvent.Ordered): per subscriber and subject, at
// most one delivery is claimable at a time, the earliest stored that is
// not yet delivered or dead (the head); the others wait, pending, in the
// order they were stored, counted in Stats and listed, but not claimed.
// When Record ends the head (delivered or dead), the next one becomes the
// head, due at once. A retrying head holds back its own subject only. The
// order holds for every process sharing the store and across crashes (an
// expired lease leaves the head the head). Manual redelivery (Redeliver,
// RedeliverDead) is sent at once, outside the order, and a redelivered
// waiting delivery leaves the line. Events without a subject are not
// ordered. A subject may be as long as a body (an upstream id is not
// bounded); a backend whose keys are bounded names a long subject's line
// by a hash of it (LineSubjectMax), so that a long subject is stored like
// any other, never an error. Two subjects that shared a hash would share
// a line: ordered together, which delays but never misorders.
//
// All methods are safe for concurrent use, by goroutines of one process and
// by several processes sharing one backend (where the backend allows
// sharing). Methods return errors wrapping ErrUnavailable when the backend
// cannot be reached, ErrNotFound for a missing event, ErrLeaseLost as stated.
// Times are passed in by the caller so that tests control the clock.
type Store interface {
	// Put stores each event and a delivery per listed subscriber, due at
	// once. Each event is all-or-nothing, and when Put returns nil every
	// event is durable (as durable as the backend is configured to be).
	// On error the caller must assume nothing was stored. Put may
	// coalesce concurrent calls into one write.
	//
	// An event whose id is known is a duplicate (PutResult.Duplicate),
	// not stored again: one received within the dedupe window of the
	// stored event's receipt; with a tombstone window
	// (StoreConfig.TombstoneWindow), also one received while the event is
	// retained, or up to TombstoneWindow after the Sweep that removed it
	// (a few minutes' allowance for clock skew aside; up to twice that
	// long, as the backend keeps its tombstones). The same id twice in one
	// call is stored once. An id no longer known is stored afresh,
	// replacing any old event of that id.
	//
	// A duplicate costs no durable write: a call whose events are all
	// duplicates writes nothing, and the duplicates counters
	// (EventRecord.Duplicates) may be written later, many at once; Event
	// shows them at once in the process that counted them. Counts not yet
	// written when the process dies are lost.
	Put(ctx context.Context, events []NewEvent) ([]PutResult, error)

	// Claim leases up to max of the subscriber's deliveries that are due at
	// now, oldest due first, to the caller until now+lease. A delivery is in
	// at most one unexpired lease; one whose lease expires is due again,
	// without an attempt counted, and may be claimed by anyone.
	//
	// A paused subscriber gets no claims: the flag is read in the same
	// atomic step that leases, so once SetPaused has paused it, no
	// Claim in any process sharing the store leases that subscriber's
	// deliveries until it is released. A queue entry whose event is gone
	// is dropped and counted (StoreHealth.Orphans), never delivered.
	Claim(ctx context.Context, subscriber string, now time.Time, max int, lease time.Duration) ([]Claim, error)

	// Record records an attempt and its outcome and ends the lease:
	// delivered and dead deliveries leave the queue, retrying ones are due
	// again at o.NextAttemptAt. A dead delivery keeps o.DeadReason (read
	// back as DeliveryRecord.DeadReason) until a redelivery clears it. It
	// returns ErrLeaseLost, recording nothing, if c's lease is no longer
	// the delivery's current one, and ErrInvalid for an o.DeadReason that
	// is not among DeadReasons or not on a dead outcome.
	Record(ctx context.Context, c Claim, o Outcome) error

	// Release hands a claimed delivery back without an attempt counted, due
	// again at at (breaker open, shutdown). ErrLeaseLost as for Record.
	Release(ctx context.Context, c Claim, at time.Time) error

	// Event returns one event with its deliveries and their history.
	Event(ctx context.Context, id string) (EventRecord, error)

	// List returns events matching f, newest received first, using indexes
	// rather than scanning every event. A call costs the same however deep
	// its cursor is, and examines a bounded number of index entries: when
	// a selective filter exhausts that budget before the page is full, the
	// page comes back short (even empty) with a NextCursor to go on from.
	// An empty NextCursor means there is nothing more. Pages chained
	// through NextCursor list every matching event retained throughout
	// once, and the page says how far it searched (Scanned,
	// SearchedUntil).
	//
	// f.Match is asked only about events that pass the other filters,
	// each at most once per call, after the store has read them (an event
	// removed meanwhile is passed over); the bodies it reads are bounded
	// by ListMatchBytes, past which the page comes back short as when
	// the budget runs out.
	List(ctx context.Context, f EventFilter) (EventPage, error)

	// Dead returns up to f.Limit (at most MaxPage) of the subscriber's
	// dead deliveries, most recently dead first, with their history,
	// DeadReason and the event's Type and Subject. With f.Reason, only
	// those dead for that reason, found among the DeadScan most recently
	// dead: the page may come back short when the reason is rarer than
	// that.
	Dead(ctx context.Context, subscriber string, f DeadFilter) ([]DeliveryRecord, error)

	// Redeliver puts the event's delivery to subscriber (all its deliveries
	// when subscriber is "") back in the queue, due at now, attempts reset to
	// zero, CreatedAt = now, dead reason cleared, history kept. A subscriber the event has no
	// delivery for gets a new one. It returns how many were queued;
	// ErrNotFound if there is no such event; ErrConflict, changing nothing,
	// if a delivery it would reset is under an unexpired lease (a delivery
	// is in one worker's hands at a time).
	Redeliver(ctx context.Context, eventID, subscriber string, now time.Time) (int, error)

	// RedeliverDead does Redeliver for every dead delivery of subscriber and
	// returns how many it queued.
	RedeliverDead(ctx context.Context, subscriber string, now time.Time) (int, error)

	// Requeue is one step of a walk over the retained events received in
	// r.Window, oldest first (by receipt time, then id): it gives
	// r.Subscriber a delivery of each event that r.Accept approves, and
	// returns the position the next step goes on from (Next, "" once the
	// window is done). Replay and backfill are such walks (RequeueAll).
	//
	// A step examines at most r.Max events (RequeueBatch when 0 or
	// more), and with r.Bodies stops after about RequeueBytes of bodies
	// (one event at least), so that it holds up Put and Claim no longer
	// than one such batch. Steps chained through Next examine each event
	// of the window that is retained throughout the walk exactly once;
	// events stored during the walk are examined if their receipt time is
	// past the position reached.
	//
	// An approved event with no delivery to the subscriber gets a new one.
	// One with a delivered or dead delivery gets it reset as Redeliver
	// does (attempts zero, history kept), but only with r.Reset; a
	// pending or retrying delivery is left alone (never doubled), and so
	// is one under an unexpired lease. Without r.Reset every existing
	// delivery is left alone, so a walk repeated, or run by two gateways
	// at once, queues nothing twice.
	//
	// Queued deliveries are created at now (max_age counts from there)
	// and due at their event's receipt time (on the store's clock, never
	// after now), so that Claim, oldest due first, hands them out in
	// receipt order, ahead of the deliveries of events received after
	// them.
	//
	// Accept runs outside the store's transactions and locks; an event
	// that changed between its reading and the write is judged by its
	// state at the write (gone, or stored afresh outside the window:
	// skipped). An empty window is done at once. A malformed r.After is
	// ErrInvalid. On error the step may have queued part of its events,
	// which stay queued.
	Requeue(ctx context.Context, r RequeueRange, now time.Time) (RequeueResult, error)

	// MarkSubscribers records the configured subscribers in the store's
	// registry of the subscriber names it has seen. subs maps each name
	// to its backfill window (zero: none). A name new to the registry is
	// added with its window as a pending backfill (none: nothing
	// pending); a name seen before keeps what it has, whatever window is
	// passed now, so that a subscriber is backfilled at most once, when
	// it first appears. It returns every name of subs with a backfill
	// still pending (EndBackfill not yet called), with its window as
	// first recorded: the caller runs it, and runs it again after a crash.
	//
	// The first call on a store whose registry does not exist yet (a new
	// store, or one written before the registry) first registers every
	// subscriber the store holds a delivery for, in any status, with
	// nothing pending: they are not new. Safe for concurrent use by
	// several processes; the registry is never swept.
	MarkSubscribers(ctx context.Context, subs map[string]TimeWindow) (map[string]TimeWindow, error)

	// EndBackfill records that the subscriber's pending backfill is done:
	// MarkSubscribers reports it no more. A name with nothing pending, or
	// not registered, is left as it is.
	EndBackfill(ctx context.Context, subscriber string) error

	// Stats returns the subscriber's counters.
	Stats(ctx context.Context, subscriber string) (SubscriberStats, error)

	// Subscribers returns, sorted, the name of every subscriber the store
	// holds a pending, retrying or dead delivery for, whether or not it is
	// still configured: the admin API lists the removed ones.
	Subscribers(ctx context.Context) ([]string, error)

	// Purge deletes every pending, retrying and dead delivery of
	// subscriber (delivered ones stay, as history, until retention ends)
	// and returns how many it deleted. It is for subscribers removed from
	// the config; a Record or Release on a purged delivery's lease returns
	// ErrLeaseLost. Large purges are done in bounded steps, so that they
	// do not hold up Put.
	Purge(ctx context.Context, subscriber string) (int, error)

	// SetPaused holds a subscriber's deliveries, for every process sharing
	// the store, with why (PauseAdmin, PauseGone), or releases them when
	// reason is PauseNone. Pausing a paused subscriber replaces its reason.
	// Paused reads the reason back: PauseNone while not paused, PauseAdmin
	// for a pause stored before reasons were.
	SetPaused(ctx context.Context, subscriber string, reason PauseReason) error
	Paused(ctx context.Context, subscriber string) (PauseReason, error)

	// Sweep drops what retention has ended at now: events received before
	// now-retention, with their deliveries, history and index entries,
	// each leaving its id's tombstone when the store has a tombstone
	// window, and the tombstones whose time is over (see Put). An
	// event with a delivery still pending or retrying is kept until that
	// delivery ends (nothing accepted is dropped unsent, however long a
	// subscriber is paused or down); a later Sweep takes it. No dangling
	// index entry may be left.
	Sweep(ctx context.Context, now time.Time) error

	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error

	// Close releases the backend. Other methods must not be called after.
	Close() error
}

// StoreOpener opens a store from the config's store block.
type StoreOpener func(cfg StoreConfig) (Store, error)

var (
	storesMu sync.RWMutex
	stores   = map[string]StoreOpener{}
)

// Store backend names, chosen by the config: "redis" when store.redis is
// present, else "embedded".
const (
	StoreRedis    = "redis"
	StoreEmbedded = "embedded"
)

// RegisterStore makes a backend available under name. It panics if name is
// taken or open is nil.
func RegisterStore(name string, open StoreOpener) {
	storesMu.Lock()
	defer storesMu.Unlock()
	if open == nil {
		panic("gateway: RegisterStore " + name + " with nil opener")
	}
	if _, dup := stores[name]; dup {
		panic("gateway: RegisterStore called twice for " + name)
	}
	stores[name] = open
}

// OpenStore opens the backend the config selects.
func OpenStore(cfg StoreConfig) (Store, error) {
	name := StoreEmbedded
	if cfg.Redis != nil {
		name = StoreRedis
	}
	storesMu.RLock()
	open, ok := stores[name]
	var known []string
	for n := range stores {
		known = append(known, n)
	}
	storesMu.RUnlock()
	if !ok {
		sort.Strings(known)
		return nil, fmt.Errorf("open store: backend %q not built in (have %v)", name, known)
	}
	s, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", name, err)
	}
	return s, nil
}
