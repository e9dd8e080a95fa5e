package deliver

import (
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// AttemptInfo describes one finished attempt, for an Observer.
type AttemptInfo struct {
	Subscriber string
	// Status is what the attempt led to: StatusDelivered, StatusRetrying
	// or StatusDead.
	Status gateway.DeliveryStatus
	// DeadReason is why a StatusDead attempt's delivery died (Decide);
	// DeadUnknown for any other status.
	DeadReason gateway.DeadReason
	// Duration is the request's, from sending it to the end of the
	// response (or the error).
	Duration time.Duration
	// EndToEnd runs from the delivery's Claim.CreatedAt (when the event was
	// received, or last redelivered by the admin API) to the end of this
	// attempt, by Options.Now. For a delivered attempt it is the latency
	// from receipt to the 2xx.
	EndToEnd time.Duration
}

// Observer is told of every attempt an Engine makes, once the store has
// taken its record (or failed to), so that metrics live outside this
// package. Attempt is called from the send goroutines of every subscriber
// at once: it must be safe for concurrent use, cheap, and must not block.
// Claims handed back without an attempt (an open breaker, a shutdown) are
// not attempts and are not reported.
type Observer interface {
	Attempt(AttemptInfo)
}

// observerRef boxes an Observer for an atomic.Pointer.
type observerRef struct{ Observer }

// SetObserver makes o the engine's Observer from the next attempt on, in
// place of Options.Observer or an earlier one; nil removes it. Attempts
// that end before it is called are not reported to o.
func (e *Engine) SetObserver(o Observer) {
	if o == nil {
		e.observer.Store(nil)
		return
	}
	e.observer.Store(&observerRef{o})
}

// observe counts one recorded attempt: the Observer if one is set, the
// rates ring, then the dispatcher's counters, last, so that whoever sees
// Engine.Attempts count an attempt sees it in the others too. now is when
// the attempt ended, by Options.Now.
func (d *dispatcher) observe(c gateway.Claim, o gateway.Outcome, now time.Time) {
	status := o.Status
	if ref := d.e.observer.Load(); ref != nil {
		ref.Attempt(AttemptInfo{
			Subscriber: d.name,
			Status:     status,
			DeadReason: o.DeadReason,
			Duration:   o.Attempt.Duration,
			EndToEnd:   max(now.Sub(c.CreatedAt), 0),
		})
	}
	d.rates.add(now, status == gateway.StatusDelivered)
	switch status {
	case gateway.StatusDelivered:
		d.delivered.Add(1)
	case gateway.StatusRetrying:
		d.retrying.Add(1)
	case gateway.StatusDead:
		d.dead.Add(1)
	}
}
