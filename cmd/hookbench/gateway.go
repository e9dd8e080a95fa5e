package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// stopGrace is how long the gateway gets to exit after SIGTERM.
const stopGrace = 30 * time.Second

// rig is what gateway runs stand on: a temporary directory, the store (a
// data directory, or a redis-server of its own), the subscribers' sinks,
// the generator and the config naming them all. Gateway processes come and
// go on it; each run's process is its own, so its peak RSS is too.
type rig struct {
	o       options
	store   string
	bin     string
	dir     string
	cfg     benchConfig
	cfgPath string
	gen     *loadgen.Generator
	sinks   []*loadgen.Sink
	starts  int
	redis   *loadgen.Redis // the store's server; nil on the embedded store
	closers []func()
}

// newRig sets up a rig for store with subscribers sinks; redisOpts are
// for the redis store's server.
func newRig(o options, store string, subscribers int, redisOpts ...loadgen.RedisOption) (_ *rig, err error) {
	r := &rig{o: o, store: store}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.bin, err = ensureGateway(o.Gateway); err != nil {
		return nil, err
	}
	dir, cleanup, err := runDir(o.Keep)
	if err != nil {
		return nil, err
	}
	r.dir = dir
	r.closers = append(r.closers, cleanup)

	iiSecret, c3Secret := randomHex(32), randomHex(32)
	if r.gen, err = loadgen.NewGenerator(plan(o, o.Mix, iiSecret, c3Secret)); err != nil {
		return nil, err
	}
	sinks, subs, stopSinks, err := startSinks(subscribers, r.gen.Events(), o.VerifyEvery, false)
	if err != nil {
		return nil, err
	}
	r.sinks = sinks
	r.closers = append(r.closers, stopSinks)

	r.cfg = benchConfig{IimmpactSecret: iiSecret, Catalog360Secret: c3Secret, Subscribers: subs,
		MaxInFlight: o.MaxInFlight, StorePath: filepath.Join(dir, "data"), AdminToken: randomHex(16)}
	if store == "redis" {
		rdb, err := loadgen.StartRedis(filepath.Join(dir, "redis"), redisOpts...)
		if err != nil {
			return nil, err
		}
		r.closers = append(r.closers, rdb.Stop)
		r.cfg.RedisURL = rdb.URL()
		r.redis = rdb
	}
	if r.cfg.Listen, err = freeAddr(); err != nil {
		return nil, err
	}
	if r.cfg.AdminListen, err = freeAddr(); err != nil {
		return nil, err
	}
	r.cfgPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(r.cfgPath, r.cfg.yaml(), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	return r, nil
}

// close stops what the rig started, in reverse order.
func (r *rig) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// result starts the record of one run on this rig.
func (r *rig) result(run string) *runResult {
	return &runResult{Run: run, Store: r.store, Requests: r.gen.Requests(), Events: r.gen.Events(),
		Subscribers: len(r.sinks), Version: gatewayVersion(r.bin)}
}

// start runs a gateway process on the rig's config and store, and waits
// until it is ready. The caller stops it (stopGateway), and may defer
// p.stop as well for early returns: stopping twice is harmless.
func (r *rig) start(ctx context.Context) (*proc, error) {
	r.starts++
	logPath := filepath.Join(r.dir, fmt.Sprintf("gateway-%d.log", r.starts))
	p, err := startProc("gateway", logPath, nil, r.bin, "serve", "-config", r.cfgPath)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, "http://"+r.cfg.Listen+"/readyz", 30*time.Second); err != nil {
		p.stop(stopGrace)
		return nil, err
	}
	return p, nil
}

// stopGateway sends SIGTERM to p and records in res how it exited and its
// peak RSS.
func stopGateway(p *proc, res *runResult) {
	code, took := p.stop(stopGrace)
	res.ExitCode, res.ExitTook, res.PeakRSS = &code, took, p.peakRSS()
	if code != 0 {
		res.ExitLog = p.logTail()
	}
}

// load runs one send phase of the rig's requests against the gateway.
func (r *rig) load(ctx context.Context) *loadgen.LoadResult {
	l := loadgen.Load{Addr: r.cfg.Listen, Gen: r.gen, Concurrency: r.o.Concurrency, Rate: r.o.Rate,
		Duration: r.o.Duration, Timeout: r.o.Timeout, Now: time.Now}.Run(ctx)
	return &l
}

// setPaused pauses or resumes every subscriber through the admin API
// (SPEC section 6). Once pause has answered, no new attempt starts.
func (r *rig) setPaused(ctx context.Context, paused bool) error {
	action := "resume"
	if paused {
		action = "pause"
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, s := range r.cfg.Subscribers {
		url := "http://" + r.cfg.AdminListen + "/admin/api/subscribers/" + s.Name + "/" + action
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+r.cfg.AdminToken)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", action, s.Name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s %s", action, s.Name, resp.Status, strings.TrimSpace(string(body)))
		}
	}
	return nil
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

// runDir makes a temporary directory (short, for unix sockets) and returns
// its remover, which keep turns into a note of where it is.
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

// startSinks serves n counting sinks on loopback ports, over fasthttp so
// that they take little of the CPU the gateway is measured on; raw ones
// (loadgen.NewRawSink) for the lean relay.
func startSinks(n, events, verifyEvery int, raw bool) ([]*loadgen.Sink, []subscriber, func(), error) {
	var (
		sinks   []*loadgen.Sink
		subs    []subscriber
		servers []*fasthttp.Server
	)
	stop := func() {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.ShutdownWithContext(ctx)
			cancel()
		}
	}
	for i := 1; i <= n; i++ {
		secret := randomWhsec()
		newSink := loadgen.NewSink
		if raw {
			newSink = loadgen.NewRawSink
		}
		sink, err := newSink(secret, events, verifyEvery, time.Now)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("sink listen: %w", err)
		}
		srv := &fasthttp.Server{Handler: sink.ServeFast, Name: "hookbench-sink", ReadTimeout: time.Minute}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintln(os.Stderr, "hookbench: sink:", err)
			}
		}()
		sinks = append(sinks, sink)
		servers = append(servers, srv)
		subs = append(subs, subscriber{Name: fmt.Sprintf("sink-%d", i), URL: "http://" + l.Addr().String() + "/hook", Secret: secret})
	}
	return sinks, subs, stop, nil
}
