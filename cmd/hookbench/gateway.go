package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// stopGrace is how long the gateway gets to exit after SIGTERM.
const stopGrace = 30 * time.Second

// runGateway benchmarks the gateway binary on one store: sinks up, gateway
// up, load, wait for every accepted event at every sink, SIGTERM.
func runGateway(ctx context.Context, o options, store string) (*runResult, error) {
	bin, err := ensureGateway(o.Gateway)
	if err != nil {
		return nil, err
	}
	dir, cleanup, err := runDir(o.Keep)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	iiSecret, c3Secret := randomHex(32), randomHex(32)
	gen, err := loadgen.NewGenerator(plan(o, o.Mix, iiSecret, c3Secret))
	if err != nil {
		return nil, err
	}

	sinks, subs, stopSinks, err := startSinks(o.Subscribers, gen.Events())
	if err != nil {
		return nil, err
	}
	defer stopSinks()

	cfg := benchConfig{IimmpactSecret: iiSecret, Catalog360Secret: c3Secret, Subscribers: subs,
		MaxInFlight: o.MaxInFlight, StorePath: filepath.Join(dir, "data")}
	if store == "redis" {
		rdb, err := loadgen.StartRedis(filepath.Join(dir, "redis"))
		if err != nil {
			return nil, err
		}
		defer rdb.Stop()
		cfg.RedisURL = rdb.URL()
	}
	if cfg.Listen, err = freeAddr(); err != nil {
		return nil, err
	}
	if cfg.AdminListen, err = freeAddr(); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, cfg.yaml(), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}

	gw, err := startProc("gateway", filepath.Join(dir, "gateway.log"), nil, bin, "serve", "-config", cfgPath)
	if err != nil {
		return nil, err
	}
	defer gw.stop(stopGrace) // on early return; a no-op after the stop below
	if err := gw.waitReady(ctx, "http://"+cfg.Listen+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}

	res := &runResult{Kind: "gateway", Store: store, Requests: gen.Requests(), Events: gen.Events(), Subscribers: o.Subscribers,
		Version: gatewayVersion(bin)}
	res.Load = loadgen.Load{Addr: cfg.Listen, Gen: gen, Concurrency: o.Concurrency, Rate: o.Rate,
		Duration: o.Duration, Timeout: o.Timeout, Now: time.Now}.Run(ctx)

	res.Drain, res.Drained = drain(ctx, sinks, res.Load.AcceptedSeq, o.Drain, o.DrainIdle)
	code, took := gw.stop(stopGrace)
	res.ExitCode, res.ExitTook, res.PeakRSS = &code, took, gw.peakRSS()
	if code != 0 {
		res.ExitLog = gw.logTail()
	}
	e2e := loadgen.NewRecorder(0)
	for _, s := range sinks {
		res.Sinks = append(res.Sinks, s.Counts(res.Load.AcceptedSeq))
		e2e.AddAll(s.Latency().Samples())
	}
	res.E2E = e2e.Summary()
	res.finish()
	return res, nil
}

// ensureGateway returns bin, building it from the module in the working
// directory when it does not exist.
func ensureGateway(bin string) (string, error) {
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "hookbench: %s missing, running go build -o %s .\n", bin, bin)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build gateway: %w", err)
	}
	return bin, nil
}

// gatewayVersion is what `bin version` prints, so a figure can be traced
// to the build it measured.
func gatewayVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown (version: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// runDir makes the run's temporary directory (short, for unix sockets) and
// returns its remover, which keep turns into a note of where it is.
func runDir(keep bool) (string, func(), error) {
	dir, err := os.MkdirTemp("", "hookbench")
	if err != nil {
		return "", nil, fmt.Errorf("temp dir: %w", err)
	}
	if keep {
		return dir, func() { fmt.Fprintf(os.Stderr, "hookbench: kept %s\n", dir) }, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// plan is the generator plan for a run with the given catalog360 fraction.
func plan(o options, mix float64, iiSecret, c3Secret string) loadgen.Plan {
	return loadgen.Plan{
		Requests: o.Requests, Catalog360: mix, BatchSize: o.Batch, Seed: o.Seed,
		RunID: randomHex(6), Time: time.Now(),
		IimmpactSecret: []byte(iiSecret), Catalog360Secret: []byte(c3Secret),
	}
}

// startSinks serves n verifying sinks on loopback ports.
func startSinks(n, events int) ([]*loadgen.Sink, []subscriber, func(), error) {
	var (
		sinks   []*loadgen.Sink
		subs    []subscriber
		servers []*http.Server
	)
	stop := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	for i := 1; i <= n; i++ {
		secret := randomWhsec()
		sink, err := loadgen.NewSink(secret, events, time.Now)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("sink listen: %w", err)
		}
		srv := &http.Server{Handler: sink, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "hookbench: sink:", err)
			}
		}()
		sinks = append(sinks, sink)
		servers = append(servers, srv)
		subs = append(subs, subscriber{Name: fmt.Sprintf("sink-%d", i), URL: "http://" + l.Addr().String() + "/hook", Secret: secret})
	}
	return sinks, subs, stop, nil
}

// drain waits until every accepted event has reached every sink. It gives
// up after timeout, or sooner when no delivery at all arrived for idle: a
// slow but moving backlog is waited for, a stalled one is not. It says how
// long it waited and whether everything arrived.
func drain(ctx context.Context, sinks []*loadgen.Sink, accepted []bool, timeout, idle time.Duration) (time.Duration, bool) {
	start := time.Now()
	lastProgress, lastLost := start, -1
	for {
		lost := 0
		for _, s := range sinks {
			lost += s.Counts(accepted).Lost
		}
		now := time.Now()
		if lost == 0 {
			return now.Sub(start), true
		}
		if lost != lastLost {
			lastLost, lastProgress = lost, now
		}
		if now.Sub(start) >= timeout || now.Sub(lastProgress) >= idle || ctx.Err() != nil {
			return now.Sub(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
