package deliver

import (
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hookgate/hookgate/gateway"
)

// The engine reports its transitions to Options.Ops (the gateway's own
// events, SPEC 5): a delivery recorded dead, a subscriber paused by a 410
// (or paused and resumed by the admin API, through PauseChanged), a
// breaker opening or closing. What becomes of them, routing, the store
// and the one-per-transition rule, is package gateway's (OpEmitter).

// raiseDead reports a delivery recorded dead. Only the gateway whose
// Record took the outcome gets here (a lost lease records nothing), and
// the transition's id (gateway.OpDead) is the same for a retried one.
// recorded is false when Record failed without saying whether it landed:
// the emitter then reads the delivery back before raising it.
func (d *dispatcher) raiseDead(c gateway.Claim, o gateway.Outcome, recorded bool) {
	ops := d.e.opts.Ops
	if ops == nil || !ops.Raising() {
		return // no subscriber takes them: not even the envelope is read
	}
	head, err := gateway.ReadEnvelopeHead(c.Body)
	if err != nil {
		d.e.log.Error("dead delivery not reported: its stored envelope does not read",
			"subscriber", d.name, "event", c.EventID, "err", err)
		return
	}
	op := gateway.OpDead(d.name, gateway.OpEventRef{
		ID: c.EventID, Source: head.Source, Type: head.Type, Subject: head.Subject,
		Attempts: c.Attempts + 1, LastStatus: o.Attempt.StatusCode, LastError: o.Attempt.Error,
		DeadReason: o.DeadReason, Response: o.Attempt.Response,
	}, c.CreatedAt, o.Attempt.At)
	if !recorded {
		op = op.Unconfirmed()
	}
	ops.Raise(op)
}

// PauseChanged tells the engine that the subscriber has just been paused
// (reason) or resumed (gateway.PauseNone) in the store by this process:
// NotifyPaused, and the transition reported to Options.Ops. The admin
// API calls it after Store.SetPaused.
func (e *Engine) PauseChanged(subscriber string, reason gateway.PauseReason) {
	e.NotifyPaused(subscriber, reason != gateway.PauseNone)
	e.raisePause(subscriber, reason)
}

func (e *Engine) raisePause(subscriber string, reason gateway.PauseReason) {
	ops := e.opts.Ops
	if ops == nil {
		return
	}
	if reason == gateway.PauseNone {
		ops.Raise(gateway.OpResume(subscriber, e.opts.Now()))
		return
	}
	ops.Raise(gateway.OpPause(subscriber, reason, e.opts.Now()))
}

// raiseBreaker reports a breaker's move to open (from closed, or a
// failed probe) or to closed (a probe that succeeded); half-open is a
// step of the breaker's own, not reported. Called under the breaker's
// lock: Raise never blocks.
func raiseBreaker(ops gateway.OpRaiser, name string, to gobreaker.State, at time.Time) {
	if ops == nil {
		return
	}
	switch to {
	case gobreaker.StateOpen:
		ops.Raise(gateway.OpBreaker(name, true, at))
	case gobreaker.StateClosed:
		ops.Raise(gateway.OpBreaker(name, false, at))
	}
}
