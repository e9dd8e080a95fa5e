// Command hookbench measures hookgate against the real binary, and divides
// every figure by the floor measured in the same invocation: a bare Fiber
// handler that verifies the HMAC and makes one Redis XADD per request,
// closed loop. Delivery figures are also divided by the lean relay's: the
// floor's ingest plus the plainest consumer-group delivery on the same
// Redis (relay.go). It is what `make bench` runs.
//
//	hookbench [-runs floor,relay,held,drain,sustained,fanout] [-store embedded,redis]
//	          [-n 20000] [-floor-n 60000] [-c 64] [-rate 0] [-mix 0.2] [-batch 1] [-fanout 10]
//	          [-verify-every 64] [-duration 30s] [-drain 90s] [-paced 1000,2000] [-paced-for 8s]
//	          [-repeat 3] [-json]
//
// The lean relay's runs, on Redis, with the floor's iimmpact requests:
//
//	relay-sustained  ingest and delivery together, 1 subscriber
//	relay-drain      a backlog written with delivery off, then deliveries/s
//	relay-fanout     ingest and delivery together, -fanout subscribers
//	relay-paced      relay-sustained sent at each -paced rate for -paced-for
//	relay-paced-always  relay-paced, its redis-server at appendfsync always: the
//	                 relay with the durability of the gateway's zero-loss settings
//
// (-runs relay names the first three). The runs, each on every store named:
//
//	held       ingest alone: the subscriber paused before sending
//	drain      after held, on a restarted gateway: resume, deliveries/s until all arrive
//	sustained  ingest and delivery together, 1 subscriber
//	fanout     ingest and delivery together, -fanout subscribers
//	paced      sustained sent at each -paced rate for -paced-for: end-to-end latency and
//	           CPU per event at a fixed load, the CPU as a ratio to relay-paced's and to
//	           relay-paced-always's
//	paced-always  paced on the redis store only, its redis-server at appendfsync always
//
// (-runs paced names relay-paced, relay-paced-always, paced and paced-always;
// -paced 0, none).
//
// The floor always runs first. The whole sequence is made -repeat times in
// turn (3: alternating, so that drift on a shared machine spreads over
// every run), each repetition's ratios to its own floor and relay, and the
// report gives each figure's median over the repetitions, with the range
// of the ratios beside it (-json: every repetition, and the medians). It
// exits 1 when any accepted event was lost,
// any sampled delivery was badly signed, a paused subscriber received
// anything, or a server did not stop cleanly; 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The runs, in the order they are made.
const (
	runFloor          = "floor"
	runRelaySustained = "relay-sustained"
	runRelayDrain     = "relay-drain"
	runRelayFanout    = "relay-fanout"
	runHeld           = "held"
	runDrain          = "drain"
	runSustained      = "sustained"
	runFanout         = "fanout"
	runRelayPaced     = "relay-paced"
	// runRelayPacedAlways is relay-paced on a redis-server at appendfsync
	// always: the lean relay with the durability of the gateway's zero-loss
	// settings (the embedded store's fsync per commit, Redis at appendfsync
	// always), so that paced-always and the embedded store's paced have a
	// like-for-like divisor.
	runRelayPacedAlways = "relay-paced-always"
	runPaced            = "paced"
	runPacedAlways      = "paced-always"
)

var allRuns = []string{runFloor, runRelaySustained, runRelayDrain, runRelayFanout, runRelayPaced, runRelayPacedAlways,
	runHeld, runDrain, runSustained, runFanout, runPaced, runPacedAlways}

// isPaced tells whether run is sent at the -paced rates.
func isPaced(run string) bool {
	return isRelayPaced(run) || run == runPaced || run == runPacedAlways
}

// isRelayPaced tells whether run is one of the lean relay's paced runs, the
// divisors of the paced runs' CPU.
func isRelayPaced(run string) bool { return run == runRelayPaced || run == runRelayPacedAlways }

// fsyncPolicy is the appendfsync of the redis-server run's server stands
// on: always for the zero-loss runs (paced-always, relay-paced-always),
// everysec, the default, for the others.
func fsyncPolicy(run string) string {
	if run == runPacedAlways || run == runRelayPacedAlways {
		return "always"
	}
	return "everysec"
}

// relayRuns maps each gateway delivery run to the relay run its ×relay
// divides by.
var relayRuns = map[string]string{runSustained: runRelaySustained, runDrain: runRelayDrain, runFanout: runRelayFanout}

// options are the command-line flags.
type options struct {
	Runs        []string      `json:"runs"`
	Stores      []string      `json:"stores"`
	Requests    int           `json:"requests"`
	FloorN      int           `json:"floor_requests"`
	Concurrency int           `json:"concurrency"`
	Rate        float64       `json:"rate"`
	Mix         float64       `json:"mix"`
	Batch       int           `json:"batch"`
	Gateway     string        `json:"gateway"`
	Fanout      int           `json:"fanout_subscribers"`
	MaxInFlight int           `json:"max_in_flight"`
	VerifyEvery int           `json:"verify_every"`
	Duration    time.Duration `json:"duration_ns"`
	Drain       time.Duration `json:"drain_ns"`
	DrainIdle   time.Duration `json:"drain_idle_ns"`
	Timeout     time.Duration `json:"timeout_ns"`
	Seed        uint64        `json:"seed"`
	Repeat      int           `json:"repeat"`
	Paced       []float64     `json:"paced_rates"` // req/s of the paced runs, ascending
	PacedFor    time.Duration `json:"paced_for_ns"`
	JSON        bool          `json:"-"`
	Keep        bool          `json:"-"`

	// the floor's and the relay's own processes (internal)
	serveFloor, serveRelay, hold bool
	listen, redisURL             string
}

// has reports whether run is among the selected runs.
func (o options) has(run string) bool { return slices.Contains(o.Runs, run) }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("hookbench", flag.ContinueOnError)
	runs := fs.String("runs", "all", "runs to make: all, or a list of relay-sustained, relay-drain, relay-fanout (relay: all three), relay-paced, relay-paced-always, held, drain, sustained, fanout, paced, paced-always (paced: relay-paced, relay-paced-always, paced and paced-always; drain needs held's backlog and adds it; the floor always runs)")
	stores := fs.String("store", "embedded,redis", "gateway stores: embedded, redis, or both as embedded,redis")
	fs.IntVar(&o.Requests, "n", 20000, "requests per gateway run")
	fs.IntVar(&o.FloorN, "floor-n", 60000, "requests for the floor, which every figure is divided by (a longer run, a steadier divisor); 0 = -n")
	fs.IntVar(&o.Concurrency, "c", 64, "concurrent requests (one connection each)")
	fs.Float64Var(&o.Rate, "rate", 0, "gateway send rate in requests per second; 0 = closed loop, as fast as ingest answers (the floor is always closed loop)")
	fs.Float64Var(&o.Mix, "mix", 0.2, "fraction of gateway requests that are catalog360 batches (the rest iimmpact single events)")
	fs.IntVar(&o.Batch, "batch", 1, "events per catalog360 batch (1..100)")
	fs.StringVar(&o.Gateway, "gateway", "bin/hookgate", "gateway binary; built with go build when missing")
	fs.IntVar(&o.Fanout, "fanout", 10, "subscribers in the fanout run")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", 0, "subscribers' max_in_flight; 0 = the gateway's default")
	fs.IntVar(&o.VerifyEvery, "verify-every", 64, "subscribers check the signature and envelope of one delivery in this many (1 = all)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "cap on each send phase")
	fs.DurationVar(&o.Drain, "drain", 90*time.Second, "longest wait, after sending (or resuming), for every accepted event to reach every subscriber")
	fs.DurationVar(&o.DrainIdle, "drain-idle", 10*time.Second, "stop waiting sooner when no delivery arrives for this long")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the provider mix")
	paced := fs.String("paced", "1000,2000", "rates of the paced runs, requests per second, comma-separated; 0 or empty: no paced runs")
	fs.DurationVar(&o.PacedFor, "paced-for", 8*time.Second, "how long each paced run sends: it sends rate × this requests")
	fs.IntVar(&o.Repeat, "repeat", 3, "make the whole sequence of runs this many times in turn and report the medians (1: a quick look)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directories (config, logs, data)")
	fs.BoolVar(&o.serveFloor, "serve-floor", false, "internal: be the floor server")
	fs.BoolVar(&o.serveRelay, "serve-relay", false, "internal: be the lean relay")
	fs.BoolVar(&o.hold, "hold", false, "internal: the relay delivers only after POST /start")
	fs.StringVar(&o.listen, "listen", "", "internal: floor or relay listen address")
	fs.StringVar(&o.redisURL, "redis", "", "internal: floor or relay Redis URL")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.FloorN == 0 {
		o.FloorN = o.Requests
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if o.Runs, err = parseRuns(*runs); err != nil {
		return o, err
	}
	if o.Paced, err = parseRates(*paced); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*stores, ",") {
		s = strings.TrimSpace(s)
		if s != "embedded" && s != "redis" {
			return o, fmt.Errorf("-store %q: want embedded, redis or embedded,redis", *stores)
		}
		if !slices.Contains(o.Stores, s) {
			o.Stores = append(o.Stores, s)
		}
	}
	switch {
	case o.Requests < 1 || o.Concurrency < 1 || o.Fanout < 1:
		return o, fmt.Errorf("-n, -c and -fanout must be at least 1")
	case o.FloorN < 0:
		return o, fmt.Errorf("-floor-n must not be negative")
	case o.Mix < 0 || o.Mix > 1:
		return o, fmt.Errorf("-mix %v: want 0..1", o.Mix)
	case o.Batch < 1 || o.Batch > 100:
		return o, fmt.Errorf("-batch %d: want 1..100", o.Batch)
	case o.Rate < 0:
		return o, fmt.Errorf("-rate must not be negative")
	case o.VerifyEvery < 1:
		return o, fmt.Errorf("-verify-every must be at least 1")
	case o.Repeat < 1:
		return o, fmt.Errorf("-repeat %d: want at least 1", o.Repeat)
	case len(o.Paced) > 0 && o.PacedFor <= 0:
		return o, fmt.Errorf("-paced-for must be positive")
	}
	for _, rate := range o.Paced {
		if n := pacedRequests(rate, o.PacedFor); n < 1 {
			return o, fmt.Errorf("-paced %v for %v: no request to send", rate, o.PacedFor)
		}
	}
	// Without a rate there is no paced run, and paced-always is on Redis.
	o.Runs = slices.DeleteFunc(o.Runs, func(r string) bool {
		return isPaced(r) && len(o.Paced) == 0 || r == runPacedAlways && !slices.Contains(o.Stores, "redis")
	})
	return o, nil
}

// parseRates reads -paced: requests per second, comma-separated, each
// above 0; "0" or "" for none. The result is ascending, without repeats.
func parseRates(s string) ([]float64, error) {
	if s = strings.TrimSpace(s); s == "" || s == "0" {
		return nil, nil
	}
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		rate, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(rate > 0) || math.IsInf(rate, 0) {
			return nil, fmt.Errorf("-paced %q: %q is not a rate above 0 (requests per second; -paced 0 for none)", s, f)
		}
		if !slices.Contains(rates, rate) {
			rates = append(rates, rate)
		}
	}
	slices.Sort(rates)
	return rates, nil
}

// pacedRequests is how many requests a paced run at rate sends over d.
func pacedRequests(rate float64, d time.Duration) int {
	return int(math.Round(rate * d.Seconds()))
}

// parseRuns reads -runs: "all" or a comma-separated list of run names. The
// result is in the order the runs are made, always starts with the floor
// (every figure is a ratio to it), and has held wherever drain is, since
// the drain empties held's backlog.
func parseRuns(s string) ([]string, error) {
	want := map[string]bool{runFloor: true}
	for _, name := range strings.Split(s, ",") {
		switch name = strings.TrimSpace(name); {
		case name == "all":
			for _, r := range allRuns {
				want[r] = true
			}
		case name == "relay":
			want[runRelaySustained], want[runRelayDrain], want[runRelayFanout] = true, true, true
		case name == runPaced:
			want[runRelayPaced], want[runRelayPacedAlways], want[runPaced], want[runPacedAlways] = true, true, true, true
		case slices.Contains(allRuns, name):
			want[name] = true
		default:
			return nil, fmt.Errorf("-runs %q: unknown run %q; want all or some of %s", s, name, strings.Join(allRuns, ","))
		}
	}
	if want[runDrain] {
		want[runHeld] = true
	}
	var runs []string
	for _, r := range allRuns {
		if want[r] {
			runs = append(runs, r)
		}
	}
	return runs, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.serveFloor {
		if err := serveFloor(ctx, o.listen, o.redisURL, os.Getenv(floorSecretEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "hookbench floor server:", err)
			os.Exit(1)
		}
		return
	}
	if o.serveRelay {
		if err := serveRelay(ctx, o.listen, o.redisURL, os.Getenv(relaySecretEnv), os.Getenv(relaySubsEnv), o.hold); err != nil {
			fmt.Fprintln(os.Stderr, "hookbench relay:", err)
			os.Exit(1)
		}
		return
	}
	sum, err := repeat(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(1)
	}
	if o.JSON {
		err = sum.writeJSON(os.Stdout)
	} else {
		err = sum.writeText(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(1)
	}
	if len(sum.Failures) > 0 {
		os.Exit(1)
	}
}

// repeat makes the whole sequence of selected runs -repeat times in turn,
// and takes the medians.
func repeat(ctx context.Context, o options) (*summary, error) {
	var reps []*report
	for i := 1; i <= o.Repeat && ctx.Err() == nil; i++ {
		if o.Repeat > 1 {
			progress(fmt.Sprintf("repetition %d of %d", i, o.Repeat))
		}
		rep, err := run(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("repetition %d: %w", i, err)
		}
		reps = append(reps, rep)
	}
	if len(reps) == 0 {
		return nil, ctx.Err()
	}
	return summarize(o, reps), nil
}

// run makes the selected runs: the floor, the lean relay's, then each
// store's runs in turn, every run on a process (and store) of its own.
func run(ctx context.Context, o options) (*report, error) {
	rep := newReport(o)
	progress("floor")
	floor, err := runFloorBench(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	rep.add(floor)
	relay := []step{
		{runRelaySustained, "", func() ([]*runResult, error) { return runRelayDelivery(ctx, o, runRelaySustained, 1, 0) }},
		{runRelayDrain, "", func() ([]*runResult, error) { return runRelayBacklog(ctx, o) }},
		{runRelayFanout, "", func() ([]*runResult, error) { return runRelayDelivery(ctx, o, runRelayFanout, o.Fanout, 0) }},
	}
	for _, run := range []string{runRelayPaced, runRelayPacedAlways} {
		for _, rate := range o.Paced {
			relay = append(relay, step{run, atRate(rate), func() ([]*runResult, error) {
				return runRelayDelivery(ctx, pacedOptions(o, rate), run, 1, rate)
			}})
		}
	}
	for _, s := range relay {
		if !o.has(s.run) || ctx.Err() != nil {
			continue
		}
		progress(s.run + s.what)
		rs, err := s.do()
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", s.run, s.what, err)
		}
		rep.add(rs...)
	}
	for _, store := range o.Stores {
		steps := []step{
			{runHeld, "", func() ([]*runResult, error) { return runHeldDrain(ctx, o, store, o.has(runDrain)) }},
			{runSustained, "", func() ([]*runResult, error) { return runDelivery(ctx, o, store, runSustained, 1) }},
			{runFanout, "", func() ([]*runResult, error) { return runDelivery(ctx, o, store, runFanout, o.Fanout) }},
		}
		for _, run := range []string{runPaced, runPacedAlways} {
			if run == runPacedAlways && store != "redis" {
				continue
			}
			for _, rate := range o.Paced {
				steps = append(steps, step{run, atRate(rate), func() ([]*runResult, error) { return runPacedDelivery(ctx, o, store, run, rate) }})
			}
		}
		for _, s := range steps {
			if !o.has(s.run) || ctx.Err() != nil {
				continue
			}
			progress(s.run + s.what + " on " + store)
			rs, err := s.do()
			if err != nil {
				return nil, fmt.Errorf("%s%s (%s store): %w", s.run, s.what, store, err)
			}
			rep.add(rs...)
		}
	}
	return rep, nil
}

// step is one run to make: its name, what else names it in progress and
// errors (" at 1000 req/s"), and what makes it.
type step struct {
	run, what string
	do        func() ([]*runResult, error)
}

func atRate(rate float64) string { return fmt.Sprintf(" at %g req/s", rate) }

// progress tells on stderr what runs now: a full bench takes minutes.
func progress(what string) {
	fmt.Fprintf(os.Stderr, "hookbench: %s %s\n", time.Now().Format("15:04:05"), what)
}
