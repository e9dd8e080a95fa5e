package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Records are stored in a small length-prefixed binary form rather than
// JSON: Put is the hot path and the body is stored as is, not base64.
// Each record starts with a format byte so that a later layout can be told
// apart.

const recFormat = 1

var errCorrupt = errors.New("corrupt record")

type encoder struct{ b []byte }

func newEncoder(size int) *encoder {
	e := &encoder{b: make([]byte, 0, size)}
	e.b = append(e.b, recFormat)
	return e
}

func (e *encoder) uint(v uint64)       { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)         { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) time(t time.Time)    { e.uint(timeBits(t)) }
func (e *encoder) str(s string)        { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte)      { e.uint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) dur(d time.Duration) { e.int(int64(d)) }

// decoder reads what encoder wrote; the first failure sticks in err, so a
// record is decoded field by field and checked once. Everything it returns
// is copied out of bbolt's memory, which is only valid inside the
// transaction.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(b []byte) *decoder {
	d := &decoder{b: b}
	if len(b) == 0 || b[0] != recFormat {
		d.err = errCorrupt
		return d
	}
	d.b = b[1:]
	return d
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time    { return bitsTime(d.uint()) }
func (d *decoder) dur() time.Duration { return time.Duration(d.int()) }
func (d *decoder) str() string        { return string(d.raw()) }
func (d *decoder) bytes() []byte      { return append([]byte(nil), d.raw()...) }

func (d *decoder) raw() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// eventRec is a stored event.
type eventRec struct {
	Source, Type, Subject string
	ReceivedAt            time.Time
	Duplicates            int64
	Body                  []byte
}

func (r *eventRec) encode() []byte {
	e := newEncoder(32 + len(r.Source) + len(r.Type) + len(r.Subject) + len(r.Body))
	e.str(r.Source)
	e.str(r.Type)
	e.str(r.Subject)
	e.time(r.ReceivedAt)
	e.int(r.Duplicates)
	e.bytes(r.Body)
	return e.b
}

// decodeEvent reads an event; withBody false skips copying the body, which
// listings do not need.
func decodeEvent(b []byte, withBody bool) (eventRec, error) {
	d := newDecoder(b)
	r := eventRec{Source: d.str(), Type: d.str(), Subject: d.str(), ReceivedAt: d.time(), Duplicates: d.int()}
	if withBody {
		r.Body = d.bytes()
	}
	return r, d.err
}

// deliveryRec is one event's delivery to one subscriber.
type deliveryRec struct {
	Status    gateway.DeliveryStatus
	Attempts  int
	CreatedAt time.Time
	NextAt    time.Time // when it is scheduled; zero once delivered or dead
	DueAt     time.Time // its due-index key: NextAt (files written before leases moved to memory may hold a lease end)
	Token     string    // unused: leases live in memory; older files may hold one, which Record and Release clear
	LastCode  int
	LastError string
	DeadAt    time.Time // its dead-index key while dead
	HistSeq   uint32    // history entries written, across redeliveries
	Ordered   bool      // made for an ordering: subject subscriber (ordering.go)
	Waiting   bool      // ordered, and waiting in its subject's line (due at waitingDue)
	// DeadReason is why a dead delivery died; "" otherwise, and in
	// records written before reasons were.
	DeadReason gateway.DeadReason
}

func (r *deliveryRec) encode() []byte {
	e := newEncoder(64 + len(r.Token) + len(r.LastError) + len(r.DeadReason))
	e.str(string(r.Status))
	e.uint(uint64(r.Attempts))
	e.time(r.CreatedAt)
	e.time(r.NextAt)
	e.time(r.DueAt)
	e.str(r.Token)
	e.int(int64(r.LastCode))
	e.str(r.LastError)
	e.time(r.DeadAt)
	e.uint(uint64(r.HistSeq))
	// The fields after HistSeq came later, each written only when it or
	// one after it is set: the flags (absent in records written before
	// ordering), then the dead reason (absent before reasons).
	if flags := r.flags(); flags != 0 || r.DeadReason != "" {
		e.uint(flags)
	}
	if r.DeadReason != "" {
		e.str(string(r.DeadReason))
	}
	return e.b
}

const (
	flagOrdered = 1 << iota
	flagWaiting
)

func (r *deliveryRec) flags() uint64 {
	var f uint64
	if r.Ordered {
		f |= flagOrdered
	}
	if r.Waiting {
		f |= flagWaiting
	}
	return f
}

func decodeDelivery(b []byte) (deliveryRec, error) {
	d := newDecoder(b)
	r := deliveryRec{
		Status:    gateway.DeliveryStatus(d.str()),
		Attempts:  int(d.uint()),
		CreatedAt: d.time(),
		NextAt:    d.time(),
		DueAt:     d.time(),
		Token:     d.str(),
		LastCode:  int(d.int()),
		LastError: d.str(),
		DeadAt:    d.time(),
		HistSeq:   uint32(d.uint()),
	}
	if d.err == nil && len(d.b) > 0 {
		f := d.uint()
		r.Ordered, r.Waiting = f&flagOrdered != 0, f&flagWaiting != 0
	}
	if d.err == nil && len(d.b) > 0 {
		r.DeadReason = gateway.DeadReason(d.str())
	}
	return r, d.err
}

// queued reports whether the delivery is waiting in the due index.
func (r *deliveryRec) queued() bool {
	return r.Status == gateway.StatusPending || r.Status == gateway.StatusRetrying
}

// indexedAt reports whether k, a key of the subscriber's due index (dead
// index when dead is set), is this delivery's entry there, and not a
// dangling one naming the same event.
func (r *deliveryRec) indexedAt(k []byte, id string, dead bool) bool {
	if dead {
		return r.Status == gateway.StatusDead && bytes.Equal(k, timeKey(r.DeadAt, id))
	}
	return r.queued() && bytes.Equal(k, timeKey(r.DueAt, id))
}

// encodeAttempt writes an attempt. The fields after the error came later
// and are written only when set: the redelivered mark (as 1; 0 when only
// a response follows), then the response excerpt. An entry written before
// either decodes with neither.
func encodeAttempt(a gateway.Attempt) []byte {
	size := 32 + len(a.Error)
	if a.Response != nil {
		size += 8 + len(a.Response.ContentType) + len(a.Response.Body)
	}
	e := newEncoder(size)
	e.uint(uint64(a.N))
	e.time(a.At)
	e.dur(a.Duration)
	e.int(int64(a.StatusCode))
	e.str(a.Error)
	if a.Redelivered || a.Response != nil {
		var r uint64
		if a.Redelivered {
			r = 1
		}
		e.uint(r)
	}
	if a.Response != nil {
		e.str(a.Response.ContentType)
		e.str(a.Response.Body)
	}
	return e.b
}

func decodeAttempt(b []byte) (gateway.Attempt, error) {
	d := newDecoder(b)
	a := gateway.Attempt{N: int(d.uint()), At: d.time(), Duration: d.dur(), StatusCode: int(d.int()), Error: d.str()}
	if d.err == nil && len(d.b) > 0 {
		a.Redelivered = d.uint() == 1
	}
	if d.err == nil && len(d.b) > 0 {
		a.Response = &gateway.AttemptResponse{ContentType: d.str(), Body: d.str()}
	}
	return a, d.err
}

func encodeStats(s gateway.SubscriberStats) []byte {
	e := newEncoder(40 + len(s.LastError))
	e.int(s.Pending)
	e.int(s.Dead)
	e.int(s.Delivered)
	e.time(s.LastSuccessAt)
	e.str(s.LastError)
	e.int(s.Retrying)
	return e.b
}

// decodeStats reads a subscriber's counters. Retrying came last, with
// schema 5; a schema 4 record has none, and the migration counts it.
func decodeStats(b []byte) (gateway.SubscriberStats, error) {
	d := newDecoder(b)
	s := gateway.SubscriberStats{Pending: d.int(), Dead: d.int(), Delivered: d.int(), LastSuccessAt: d.time(), LastError: d.str()}
	if d.err == nil && len(d.b) > 0 {
		s.Retrying = d.int()
	}
	return s, d.err
}
