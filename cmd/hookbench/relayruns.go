package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// relayRig is what the lean relay's runs stand on, as rig is for the
// gateway's: a temporary directory, a redis-server of its own, raw sinks
// and the floor's iimmpact-only requests (-n of them). Relay processes
// come and go on it, each its own, so that its CPU and peak RSS are too.
type relayRig struct {
	o       options
	self    string
	dir     string
	addr    string
	secret  string
	gen     *loadgen.Generator
	sinks   []*loadgen.Sink
	subs    []subscriber
	redis   *loadgen.Redis
	rate    float64 // requests per second; 0: closed loop
	starts  int
	closers []func()
}

// newRelayRig sets up a relay rig with subscribers sinks, its redis-server
// run with redisOpts.
func newRelayRig(o options, subscribers int, redisOpts ...loadgen.RedisOption) (_ *relayRig, err error) {
	r := &relayRig{o: o, secret: randomHex(32)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.self, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	dir, cleanup, err := runDir(o.Keep)
	if err != nil {
		return nil, err
	}
	r.dir = dir
	r.closers = append(r.closers, cleanup)
	if r.gen, err = loadgen.NewGenerator(plan(o, 0, r.secret, randomHex(32))); err != nil {
		return nil, err
	}
	sinks, subs, stopSinks, err := startSinks(subscribers, r.gen.Events(), o.VerifyEvery, true)
	if err != nil {
		return nil, err
	}
	r.sinks, r.subs = sinks, subs
	r.closers = append(r.closers, stopSinks)
	rdb, err := loadgen.StartRedis(filepath.Join(dir, "redis"), redisOpts...)
	if err != nil {
		return nil, err
	}
	r.redis = rdb
	r.closers = append(r.closers, rdb.Stop)
	if r.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	return r, nil
}

// close stops what the rig started, in reverse order.
func (r *relayRig) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// result starts the record of one relay run.
func (r *relayRig) result(run string) *runResult {
	return &runResult{Run: run, Store: "redis", Requests: r.gen.Requests(), Events: r.gen.Events(), Subscribers: len(r.sinks)}
}

// start runs a relay process and waits until it is ready: delivering to
// the rig's sinks with deliver (after POST /start with hold), ingest only
// without.
func (r *relayRig) start(ctx context.Context, deliver, hold bool) (*proc, error) {
	r.starts++
	env := []string{relaySecretEnv + "=" + r.secret}
	if deliver {
		env = append(env, relaySubsEnv+"="+formatRelayTargets(r.subs))
	}
	args := []string{"-serve-relay", "-listen", r.addr, "-redis", r.redis.URL()}
	if hold {
		args = append(args, "-hold")
	}
	p, err := startProc("relay", filepath.Join(r.dir, fmt.Sprintf("relay-%d.log", r.starts)), env, r.self, args...)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, "http://"+r.addr+"/readyz", 30*time.Second); err != nil {
		p.stop(stopGrace)
		return nil, err
	}
	return p, nil
}

// load runs one send phase, closed loop as the floor is unless the rig
// has a rate.
func (r *relayRig) load(ctx context.Context) *loadgen.LoadResult {
	l := loadgen.Load{Addr: r.addr, Gen: r.gen, Concurrency: r.o.Concurrency, Rate: r.rate,
		Duration: r.o.Duration, Timeout: r.o.Timeout, Now: time.Now}.Run(ctx)
	return &l
}

// runRelayDelivery makes relay-sustained (1 subscriber) or relay-fanout
// (-fanout subscribers, a consumer group each): ingest and delivery
// together, closed loop, measured as runDelivery measures the gateway; or
// relay-paced or relay-paced-always (1 subscriber; the latter's
// redis-server at appendfsync always), its load sent at rate (o's -n the
// paced run's: pacedOptions).
func runRelayDelivery(ctx context.Context, o options, run string, subscribers int, rate float64) ([]*runResult, error) {
	r, err := newRelayRig(o, subscribers, loadgen.AppendFsync(fsyncPolicy(run)))
	if err != nil {
		return nil, err
	}
	defer r.close()
	r.rate = rate
	p, err := r.start(ctx, true, false)
	if err != nil {
		return nil, err
	}
	defer p.stop(stopGrace)

	res := r.result(run)
	res.Rate = rate
	measureDelivery(ctx, o, res, p, r.redis, r.sinks, r.load)
	return []*runResult{res}, nil
}

// runRelayBacklog makes relay-drain, as runHeldDrain makes drain: -n
// requests into a relay process with no subscriber (its ingest alone, not
// reported: it is the floor's), then a new relay process on the same
// Redis, held until ready, then started; deliveries/s from the start to
// the last arrival.
func runRelayBacklog(ctx context.Context, o options) ([]*runResult, error) {
	r, err := newRelayRig(o, 1)
	if err != nil {
		return nil, err
	}
	defer r.close()
	drain := r.result(runRelayDrain)

	p, err := r.start(ctx, false, false)
	if err != nil {
		return nil, err
	}
	defer p.stop(stopGrace)
	load := r.load(ctx)
	if code, _ := p.stop(stopGrace); code != 0 {
		drain.Failures = append(drain.Failures, fmt.Sprintf("the ingest relay exited %d after SIGTERM, want 0", code))
	}
	if n, err := streamLen(ctx, r.redis.URL(), relayStream); err != nil {
		drain.Failures = append(drain.Failures, err.Error())
	} else if n != int64(load.Accepted) {
		drain.Failures = append(drain.Failures, fmt.Sprintf("relay appended %d entries for %d accepted requests", n, load.Accepted))
	}
	if load.Accepted == 0 || ctx.Err() != nil {
		drain.Failures = append(drain.Failures, fmt.Sprintf("no backlog: no request was accepted (first error: %q)", load.FirstError))
		drain.finish()
		return []*runResult{drain}, nil
	}

	p, err = r.start(ctx, true, true)
	if err != nil {
		return nil, err
	}
	defer p.stop(stopGrace)
	drain.Backlog = load.AcceptedEvents
	start := time.Now()
	cpu := startCPU(p, r.redis)
	if err := r.release(ctx); err != nil {
		return nil, err
	}
	drain.Wait, drain.Drained = waitAll(ctx, r.sinks, load.AcceptedSeq, o.Drain, o.DrainIdle)
	drain.Deliveries = distinct(r.sinks)
	drain.CPU = cpu.stop(int(drain.Deliveries))
	stopGateway(p, drain)
	if drain.Deliveries > 0 {
		drain.DeliverySpan = lastReceipt(r.sinks).Sub(start)
	}
	drain.Sinks = counts(r.sinks, load.AcceptedSeq)
	drain.finish()
	return []*runResult{drain}, nil
}

// release starts a held relay's delivery.
func (r *relayRig) release(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.addr+"/start", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("start relay delivery: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("start relay delivery: %s", resp.Status)
	}
	return nil
}
