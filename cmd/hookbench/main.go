// Command hookbench measures hookgate: ingest throughput and latency, and
// end-to-end latency to verifying subscribers, against the real binary, and
// the same load against a bare baseline (a Fiber handler that checks the
// HMAC and makes one Redis write). It is what `make bench` runs.
//
//	hookbench [-mode gateway|baseline|both] [-store embedded|redis|embedded,redis]
//	          [-n 20000] [-c 64] [-rate 0] [-mix 0.2] [-batch 1]
//	          [-subscribers 1] [-duration 30s] [-drain 90s] [-json]
//
// It exits 1 when any accepted event was lost, any delivery was badly
// signed, or the gateway did not stop cleanly; 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	Mode        string        `json:"mode"`
	Stores      []string      `json:"stores"`
	Requests    int           `json:"requests"`
	Concurrency int           `json:"concurrency"`
	Rate        float64       `json:"rate"`
	Mix         float64       `json:"mix"`
	Batch       int           `json:"batch"`
	Gateway     string        `json:"gateway"`
	Subscribers int           `json:"subscribers"`
	MaxInFlight int           `json:"max_in_flight"`
	Duration    time.Duration `json:"duration_ns"`
	Drain       time.Duration `json:"drain_ns"`
	DrainIdle   time.Duration `json:"drain_idle_ns"`
	Timeout     time.Duration `json:"timeout_ns"`
	Seed        uint64        `json:"seed"`
	JSON        bool          `json:"-"`
	Keep        bool          `json:"-"`

	// baseline-server (internal) mode
	listen, redisURL string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("hookbench", flag.ContinueOnError)
	fs.StringVar(&o.Mode, "mode", "gateway", "gateway, baseline or both")
	stores := fs.String("store", "embedded", "gateway store: embedded, redis, or both as embedded,redis")
	fs.IntVar(&o.Requests, "n", 20000, "total requests")
	fs.IntVar(&o.Concurrency, "c", 64, "concurrent requests (one connection each)")
	fs.Float64Var(&o.Rate, "rate", 0, "requests per second; 0 = as fast as the server answers")
	fs.Float64Var(&o.Mix, "mix", 0.2, "fraction of requests that are catalog360 batches (the rest iimmpact single events)")
	fs.IntVar(&o.Batch, "batch", 1, "events per catalog360 batch (1..100)")
	fs.StringVar(&o.Gateway, "gateway", "bin/hookgate", "gateway binary; built with go build when missing")
	fs.IntVar(&o.Subscribers, "subscribers", 1, "verifying sink subscribers")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", 0, "subscribers' max_in_flight; 0 = the gateway's default")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "cap on each send phase")
	fs.DurationVar(&o.Drain, "drain", 90*time.Second, "longest wait, after sending, for every accepted event to reach every sink")
	fs.DurationVar(&o.DrainIdle, "drain-idle", 10*time.Second, "stop waiting sooner when no delivery arrives for this long")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the provider mix")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (config, logs, data)")
	fs.StringVar(&o.listen, "listen", "", "internal: baseline-server listen address")
	fs.StringVar(&o.redisURL, "redis", "", "internal: baseline-server Redis URL")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, s := range strings.Split(*stores, ",") {
		if s = strings.TrimSpace(s); s != "embedded" && s != "redis" {
			return o, fmt.Errorf("-store %q: want embedded, redis or embedded,redis", *stores)
		}
		o.Stores = append(o.Stores, strings.TrimSpace(s))
	}
	switch {
	case o.Mode != "gateway" && o.Mode != "baseline" && o.Mode != "both" && o.Mode != modeBaselineServer:
		return o, fmt.Errorf("-mode %q: want gateway, baseline or both", o.Mode)
	case o.Requests < 1 || o.Concurrency < 1 || o.Subscribers < 1:
		return o, fmt.Errorf("-n, -c and -subscribers must be at least 1")
	case o.Mix < 0 || o.Mix > 1:
		return o, fmt.Errorf("-mix %v: want 0..1", o.Mix)
	case o.Batch < 1 || o.Batch > 100:
		return o, fmt.Errorf("-batch %d: want 1..100", o.Batch)
	case o.Rate < 0:
		return o, fmt.Errorf("-rate must not be negative")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.Mode == modeBaselineServer {
		if err := serveBaseline(ctx, o.listen, o.redisURL, os.Getenv(baselineSecretEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "hookbench baseline-server:", err)
			os.Exit(1)
		}
		return
	}
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(1)
	}
	if o.JSON {
		err = rep.writeJSON(os.Stdout)
	} else {
		err = rep.writeText(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(1)
	}
	if len(rep.Failures) > 0 {
		os.Exit(1)
	}
}

// run performs the runs the mode asks for, baseline first.
func run(ctx context.Context, o options) (*report, error) {
	rep := newReport(o)
	if o.Mode == "baseline" || o.Mode == "both" {
		r, err := runBaseline(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		rep.add(r)
	}
	if o.Mode == "gateway" || o.Mode == "both" {
		for _, store := range o.Stores {
			if ctx.Err() != nil {
				break
			}
			r, err := runGateway(ctx, o, store)
			if err != nil {
				return nil, fmt.Errorf("gateway (%s store): %w", store, err)
			}
			rep.add(r)
		}
	}
	return rep, nil
}
