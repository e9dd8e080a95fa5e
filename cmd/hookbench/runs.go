package main

import (
	"context"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// runHeldDrain makes the held ingest run on store: one subscriber, paused
// through the admin API before anything is sent, so that only ingest is
// measured. With drainToo it then stops that gateway, starts another on the
// same store (so the drain's peak RSS is its own), resumes the subscriber
// and measures deliveries/s until the whole backlog has arrived.
func runHeldDrain(ctx context.Context, o options, store string, drainToo bool) ([]*runResult, error) {
	r, err := newRig(o, store, 1)
	if err != nil {
		return nil, err
	}
	defer r.close()

	gw, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	defer gw.stop(stopGrace)
	if err := r.setPaused(ctx, true); err != nil {
		return nil, err
	}
	held := r.result(runHeld)
	cpu := startCPU(gw, r.redis)
	held.Load = r.load(ctx)
	held.CPU = cpu.stop(held.Load.AcceptedEvents)
	stopGateway(gw, held)
	for _, s := range r.sinks {
		held.HeldDelivered += s.Arrivals()
	}
	held.finish()
	if !drainToo || ctx.Err() != nil {
		return []*runResult{held}, nil
	}

	gw, err = r.start(ctx)
	if err != nil {
		return nil, err
	}
	defer gw.stop(stopGrace)
	drain := r.result(runDrain)
	drain.Backlog = held.Load.AcceptedEvents
	before := distinct(r.sinks)
	start := time.Now()
	cpu = startCPU(gw, r.redis)
	if err := r.setPaused(ctx, false); err != nil {
		return nil, err
	}
	drain.Wait, drain.Drained = waitAll(ctx, r.sinks, held.Load.AcceptedSeq, o.Drain, o.DrainIdle)
	drain.Deliveries = distinct(r.sinks) - before
	drain.CPU = cpu.stop(int(drain.Deliveries)) // per delivery made, should the drain not finish
	stopGateway(gw, drain)
	if drain.Deliveries > 0 {
		drain.DeliverySpan = lastReceipt(r.sinks).Sub(start)
	}
	drain.Sinks = counts(r.sinks, held.Load.AcceptedSeq)
	drain.finish()
	return []*runResult{held, drain}, nil
}

// runDelivery makes a run of ingest and delivery together on store, with
// subscribers sinks: sustained (1) or fanout (-fanout), or paced (1).
// Deliveries/s runs from the start of sending to the last first receipt.
func runDelivery(ctx context.Context, o options, store, run string, subscribers int, redisOpts ...loadgen.RedisOption) ([]*runResult, error) {
	r, err := newRig(o, store, subscribers, redisOpts...)
	if err != nil {
		return nil, err
	}
	defer r.close()
	gw, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	defer gw.stop(stopGrace)

	res := r.result(run)
	measureDelivery(ctx, o, res, gw, r.redis, r.sinks, r.load)
	return []*runResult{res}, nil
}

// runPacedDelivery makes paced, or paced-always (its redis-server at appendfsync
// always), at rate: sustained with its load sent at rate for -paced-for.
func runPacedDelivery(ctx context.Context, o options, store, run string, rate float64) ([]*runResult, error) {
	rs, err := runDelivery(ctx, pacedOptions(o, rate), store, run, 1, loadgen.AppendFsync(fsyncPolicy(run)))
	for _, r := range rs {
		r.Rate = rate
	}
	return rs, err
}

// pacedOptions are o for a paced run at rate: rate × -paced-for requests
// sent at rate, the send phase capped at twice -paced-for (or -duration,
// if longer) should the server fall behind.
func pacedOptions(o options, rate float64) options {
	o.Requests, o.Rate = pacedRequests(rate, o.PacedFor), rate
	o.Duration = max(o.Duration, 2*o.PacedFor)
	return o
}

// measureDelivery fills res for a run of ingest and delivery
// together against server (the gateway or the lean relay) and its Redis
// (nil: none): load sends, then every accepted event is waited for at
// every sink, and the server is stopped. Deliveries/s runs from the start
// of sending to the last first receipt.
func measureDelivery(ctx context.Context, o options, res *runResult, server *proc, rdb *loadgen.Redis,
	sinks []*loadgen.Sink, load func(context.Context) *loadgen.LoadResult) {
	cpu := startCPU(server, rdb)
	res.Load = load(ctx)
	res.Wait, res.Drained = waitAll(ctx, sinks, res.Load.AcceptedSeq, o.Drain, o.DrainIdle)
	res.CPU = cpu.stop(res.Load.AcceptedEvents)
	stopGateway(server, res)
	if last := lastReceipt(sinks); !last.IsZero() {
		res.Deliveries, res.DeliverySpan = distinct(sinks), last.Sub(res.Load.Started)
	}
	e2e := loadgen.NewRecorder(0)
	for _, s := range sinks {
		e2e.AddAll(s.Latency().Samples())
	}
	sum := e2e.Summary()
	res.E2E = &sum
	res.Sinks = counts(sinks, res.Load.AcceptedSeq)
	res.finish()
}

// waitAll waits until every accepted event has reached every sink. It
// gives up after timeout, or sooner when no delivery at all arrived for
// idle: a slow but moving backlog is waited for, a stalled one is not. It
// says how long it waited and whether everything arrived. It polls the
// sinks' cheap distinct counts, and walks every event only once those say
// all may be there.
func waitAll(ctx context.Context, sinks []*loadgen.Sink, accepted []bool, timeout, idle time.Duration) (time.Duration, bool) {
	want := int64(0)
	for _, ok := range accepted {
		if ok {
			want++
		}
	}
	start := time.Now()
	lastProgress, lastSeen := start, int64(-1)
	for {
		seen, ready := int64(0), true
		for _, s := range sinks {
			d := s.Distinct()
			seen += d
			ready = ready && d >= want
		}
		now := time.Now()
		if ready {
			lost := 0
			for _, c := range counts(sinks, accepted) {
				lost += c.Lost
			}
			if lost == 0 {
				return now.Sub(start), true
			}
		}
		if seen != lastSeen {
			lastSeen, lastProgress = seen, now
		}
		if now.Sub(start) >= timeout || now.Sub(lastProgress) >= idle || ctx.Err() != nil {
			return now.Sub(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counts is every sink's tally against accepted.
func counts(sinks []*loadgen.Sink, accepted []bool) []loadgen.SinkCounts {
	var cs []loadgen.SinkCounts
	for _, s := range sinks {
		cs = append(cs, s.Counts(accepted))
	}
	return cs
}

// distinct is the number of first receipts over all sinks.
func distinct(sinks []*loadgen.Sink) int64 {
	var n int64
	for _, s := range sinks {
		n += s.Distinct()
	}
	return n
}

// lastReceipt is the latest first receipt over all sinks; zero if none.
func lastReceipt(sinks []*loadgen.Sink) time.Time {
	var last time.Time
	for _, s := range sinks {
		if t := s.LastReceipt(); t.After(last) {
			last = t
		}
	}
	return last
}
