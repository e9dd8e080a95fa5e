package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OpSource is the source of the gateway's own events (SPEC 5): a name no
// configured source may take, and one that only a subscriber naming it in
// its sources receives (events: ["**"] alone does not).
const OpSource = "hookgate"

// The gateway's own event types (SPEC 5).
const (
	OpDeliveryDead  = "hookgate.delivery.dead"
	OpBreakerOpened = "hookgate.subscriber.breaker_opened"
	OpBreakerClosed = "hookgate.subscriber.breaker_closed"
	OpPaused        = "hookgate.subscriber.paused"
	OpResumed       = "hookgate.subscriber.resumed"
)

// Subjects, latch keys and the states kept under them (Latcher).
const (
	opSubjectPrefix = "subscriber/"
	opLatchPause    = "pause/"
	opLatchBreaker  = "breaker/"
	opStatePaused   = "paused"
	opStateResumed  = "resumed"
	opStateOpen     = "open"
	opStateClosed   = "closed"
)

// OpTypes returns the gateway's own event types, for hookgate check's
// routing table and the docs.
func OpTypes() []string {
	return []string{OpDeliveryDead, OpBreakerOpened, OpBreakerClosed, OpPaused, OpResumed}
}

// OpEvent is one transition the gateway reports about itself: a delivery
// that died, a breaker that opened or closed, a subscriber paused or
// resumed. Build it with OpDead, OpPause, OpResume or OpBreaker; an
// OpEmitter turns it into an event.
type OpEvent struct {
	Type       string
	Subscriber string
	// Reason is the pause reason (paused) or the dead reason (dead).
	Reason string
	At     time.Time
	// Event is the delivery's event, for a dead delivery; nil otherwise.
	Event *OpEventRef

	// identity makes the envelope id: the same transition seen by two
	// gateways (or retried by one) has the same identity, so that the
	// store's id dedupe keeps one event.
	identity string
	// latch, when set, is the store-wide state (a Latcher key) this
	// transition moves to latchTo; the event is raised only by the
	// gateway that moves it, and only when emitIf approves the state it
	// found.
	latch, latchTo string
	emitIf         func(prev string) bool
	// unconfirmed: a dead delivery whose Record failed without saying
	// whether it landed; raised only if the store shows it dead by this
	// attempt (At).
	unconfirmed bool
}

// OpEventRef is what a dead-delivery event says of the event that died.
type OpEventRef struct {
	ID         string           `json:"id"`
	Source     string           `json:"source"`
	Type       string           `json:"type"`
	Subject    string           `json:"subject,omitempty"`
	Attempts   int              `json:"attempts"`
	LastStatus int              `json:"last_status"` // 0: no response
	LastError  string           `json:"last_error,omitempty"`
	DeadReason DeadReason       `json:"dead_reason"`
	Response   *AttemptResponse `json:"response,omitempty"`
}

// opData is the envelope's data.object of an operational event.
type opData struct {
	Subscriber string      `json:"subscriber"`
	Reason     string      `json:"reason,omitempty"`
	At         time.Time   `json:"at"`
	Event      *OpEventRef `json:"event,omitempty"`
}

// OpDead is the transition of one delivery to dead. created is the
// delivery's CreatedAt (changed by each redelivery) and attempts the
// attempts counted since it, the last one included: together with the
// event id and subscriber they name this death and no other, whichever
// gateway recorded it, so that a retried emit collapses into one event.
func OpDead(subscriber string, ref OpEventRef, created time.Time, at time.Time) OpEvent {
	return OpEvent{
		Type: OpDeliveryDead, Subscriber: subscriber, Reason: string(ref.DeadReason), At: at, Event: &ref,
		identity: joinIdentity(OpDeliveryDead, subscriber, ref.ID,
			strconv.FormatInt(created.UnixNano(), 10), strconv.Itoa(ref.Attempts)),
	}
}

// Unconfirmed marks a dead delivery (OpDead) whose Record returned an
// error that does not tell whether the write landed (a timeout, a reset
// connection): the emitter reads the delivery back first, and raises the
// event only if the store has it dead by the attempt at op.At. If the
// write did not land, the delivery is retried and its own death, if it
// comes, raises its own event.
func (op OpEvent) Unconfirmed() OpEvent {
	op.unconfirmed = op.Event != nil
	return op
}

// confirmedDead reports whether rec shows the delivery of op (an
// unconfirmed OpDead) dead by the attempt at op.At: its last recorded
// attempt, to the millisecond (the precision every store keeps).
func (op OpEvent) confirmedDead(rec EventRecord) bool {
	for _, d := range rec.Deliveries {
		if d.Subscriber != op.Subscriber {
			continue
		}
		if d.Status != StatusDead || len(d.History) == 0 {
			return false
		}
		last := d.History[len(d.History)-1].At
		return last.Truncate(time.Millisecond).Equal(op.At.Truncate(time.Millisecond))
	}
	return false
}

// OpPause is the subscriber's transition to paused, for reason.
func OpPause(subscriber string, reason PauseReason, at time.Time) OpEvent {
	return latched(OpPaused, subscriber, string(reason), at, opLatchPause, opStatePaused,
		func(prev string) bool { return prev != opStatePaused })
}

// OpResume is the subscriber's transition out of a pause. It is raised
// only when a pause was recorded for it before (by OpPause): a resume of
// a subscriber that was not paused reports nothing.
func OpResume(subscriber string, at time.Time) OpEvent {
	return latched(OpResumed, subscriber, "", at, opLatchPause, opStateResumed,
		func(prev string) bool { return prev == opStatePaused })
}

// OpBreaker is the transition of the subscriber's breaker to open (or,
// with open false, to closed) in one gateway. Breakers are per gateway;
// the store keeps the state the last transition of any gateway left, and
// only the gateway that changes it raises the event: the first breaker to
// open raises opened, the first to close after that raises closed.
func OpBreaker(subscriber string, open bool, at time.Time) OpEvent {
	if open {
		return latched(OpBreakerOpened, subscriber, "", at, opLatchBreaker, opStateOpen,
			func(prev string) bool { return prev != opStateOpen })
	}
	return latched(OpBreakerClosed, subscriber, "", at, opLatchBreaker, opStateClosed,
		func(prev string) bool { return prev == opStateOpen })
}

func latched(typ, sub, reason string, at time.Time, latch, to string, emitIf func(string) bool) OpEvent {
	return OpEvent{
		Type: typ, Subscriber: sub, Reason: reason, At: at,
		// Only the gateway that moved the latch raises it, so the time of
		// its move is what tells one transition from the next.
		identity: joinIdentity(typ, sub, reason, strconv.FormatInt(at.UnixNano(), 10)),
		latch:    latch + sub, latchTo: to, emitIf: emitIf,
	}
}

func joinIdentity(parts ...string) string { return strings.Join(parts, "\x00") }

// ID is the envelope id of the event: the same transition gets the same
// id, whoever builds it.
func (op OpEvent) ID() string { return EventID(OpSource, op.identity) }

// Loops reports whether raising op would report on an operational event
// itself: a dead delivery of one raises nothing (SPEC 5), so that a
// subscriber of operational events that is down cannot feed on itself.
func (op OpEvent) Loops() bool {
	return op.Event != nil && op.Event.Source == OpSource
}

// Envelope builds the CloudEvents envelope of op and its body: source
// hookgate, subject subscriber/<name>, data.object the transition.
func (op OpEvent) Envelope() (Envelope, []byte, error) {
	at := op.At.UTC()
	obj, err := json.Marshal(opData{Subscriber: op.Subscriber, Reason: op.Reason, At: at, Event: op.Event})
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("encode %s: %w", op.Type, err)
	}
	env := Envelope{
		SpecVersion:     SpecVersion,
		ID:              op.ID(),
		Source:          OpSource,
		Type:            op.Type,
		Subject:         opSubjectPrefix + op.Subscriber,
		Time:            at,
		DataContentType: "application/json",
		Data:            Data{Object: obj},
	}
	env.SetTrace(NewTrace())
	body, err := EncodeEnvelope(env)
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("encode %s: %w", op.Type, err)
	}
	return env, body, nil
}

// EnvelopeHead is the part of a stored envelope an operational event
// quotes: read from a claim's body when its delivery dies.
type EnvelopeHead struct {
	ID      string `json:"id"`
	Source  string `json:"source"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
}

// ReadEnvelopeHead decodes the head of a stored envelope.
func ReadEnvelopeHead(body []byte) (EnvelopeHead, error) {
	var h EnvelopeHead
	if err := json.Unmarshal(body, &h); err != nil {
		return EnvelopeHead{}, fmt.Errorf("read envelope: %w", err)
	}
	return h, nil
}

// Latcher is implemented by stores that keep small named states shared
// by every gateway: SwapState sets key to value and returns the value it
// had ("" when never set), in one atomic step, so that of several
// gateways making the same transition exactly one sees it change. Both
// built-in stores implement it; the keys are few (two per subscriber)
// and are never swept.
type Latcher interface {
	SwapState(ctx context.Context, key, value string) (prev string, err error)
}

// OpRaiser takes the gateway's transitions. Its methods must never
// block: the delivery engine calls them from its send path and under a
// breaker's lock.
type OpRaiser interface {
	// Raising reports whether Raise would do anything: some subscriber
	// takes operational events. False, the caller need not build them.
	Raising() bool
	Raise(op OpEvent)
}
