package deliver

import (
	"context"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Send goroutines: one carries a claimed delivery's attempt, then waits
// Options.SendIdle for the subscriber's next claim before it exits. Under
// steady traffic the same goroutines carry one attempt after another, so
// their stacks, grown once to net/http's depth, are not grown again for
// every attempt (runtime.newstack was ~7% of a delivery run's CPU with a
// goroutine per attempt); an idle subscriber keeps none.

// sendJob is one claimed delivery and the state it was claimed under.
type sendJob struct {
	st *subState
	c  gateway.Claim
}

// dispatch sends c on a goroutine: one of the subscriber's idle send
// goroutines when one is waiting, else a new one. The number of sends
// under way is the dispatcher's to bound (run counts them before calling
// dispatch), so this adds no queue: a claim is handed only to a goroutine
// ready to take it at once.
func (d *dispatcher) dispatch(ctx context.Context, st *subState, c gateway.Claim) {
	select {
	case d.handoff <- sendJob{st, c}:
	default:
		go d.worker(ctx, sendJob{st, c})
	}
}

// worker sends j, then waits up to Options.SendIdle for another claim to
// send, until ctx (the dispatcher's loop) ends. At most max_in_flight of
// the subscriber's send goroutines wait at once (d.idle): the attempts
// over that (those still recording while the next requests go out, up to
// Options.MaxUnrecorded) end with their send, as every attempt's did, so
// that idle goroutines and their grown stacks stay bounded by the
// subscriber's concurrency, not by its bursts.
func (d *dispatcher) worker(ctx context.Context, j sendJob) {
	idle := d.e.opts.SendIdle
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		keep := int64(max(j.st.cfg.MaxInFlight, 1))
		d.send(j.st, j.c)
		j = sendJob{} // idle, it holds no body and no retired state
		if d.idle.Add(1) > keep {
			d.idle.Add(-1)
			return
		}
		t.Reset(idle)
		select {
		case j = <-d.handoff:
			d.idle.Add(-1)
		case <-t.C:
			d.idle.Add(-1)
			return
		case <-ctx.Done():
			d.idle.Add(-1)
			return
		}
	}
}
