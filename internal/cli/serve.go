package cli

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/telemetry"
)

// defaultGrace bounds a graceful shutdown. SPEC 2 has no key for it, so it
// is the -grace flag; 25s fits inside Kubernetes' default 30s termination
// grace period.
const defaultGrace = 25 * time.Second

// serveOptions is everything serve takes from outside, so that tests run it
// in-process with their own signals and learn the bound addresses.
type serveOptions struct {
	configPath string
	// allowDevSecrets lets the published development secrets serve on a
	// listener other than loopback (-allow-dev-secrets).
	allowDevSecrets bool
	grace           time.Duration
	log             *slog.Logger
	// level is log's level, set from log.level at start and on every
	// reload; nil leaves log as it is (tests).
	level *slog.LevelVar
	// config, if set, is the config already loaded (for the log
	// settings), from bytes whose SHA-256 is configSum; start loads
	// configPath otherwise.
	config    *gateway.Config
	configSum [sha256.Size]byte
	stderr    io.Writer
	// signals delivers SIGHUP (reload) and SIGINT/SIGTERM (stop).
	signals <-chan os.Signal
	// ready, if set, is called once both listeners accept, with their
	// addresses (useful with port 0).
	ready func(public, admin net.Addr)
	// tracing is the OpenTelemetry tracing from the OTEL_* environment;
	// nil: off. The server flushes and stops it at shutdown.
	tracing *telemetry.Tracing
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configPathFlag(fs)
	grace := fs.Duration("grace", defaultGrace, "how long a shutdown may take to finish in-flight work")
	format := fs.String("log-format", "", "log format: text, json or auto (default: log.format of the config)")
	allowDev := fs.Bool("allow-dev-secrets", false, "serve with the published development secrets on a listener other than loopback (a demo behind a firewall)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookgate serve: unexpected argument %q\n\n%s", fs.Arg(0), usageText)
		return exitUsage
	}
	if *format != "" && !validFormat(*format) {
		fmt.Fprintf(stderr, "hookgate serve: -log-format %q: want text, json or auto\n", *format)
		return exitUsage
	}
	cfg, sum, err := loadConfigFile(*path)
	if err != nil {
		// config.Load's errors already read "file:line: key: message".
		fmt.Fprintln(stderr, err)
		return exitError
	}
	if *format == "" {
		*format = cfg.Log.Format
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.Log.Level))
	log := newLogger(stderr, *format, level)
	// Libraries that log on their own (go-redis through redisstore) write
	// through slog's default: make it this logger, so that every line
	// keeps the format asked for.
	slog.SetDefault(log)
	// Before anything else is started or logged: a setting it cannot
	// honour is one line and exit 1, like a config error.
	tracing, err := telemetry.FromEnv(os.Getenv, Version, log)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate serve: %v\n", err)
		return exitError
	}
	tuneGC(os.Getenv)
	if limit := tuneMemoryLimit(os.Getenv, os.DirFS("/")); limit > 0 {
		log.Info("memory limit from the container", "gomemlimit_bytes", limit)
	}
	if path := os.Getenv("HOOKGATE_CPUPROFILE"); path != "" {
		// A profiling aid for benchmarks: the whole run, written at exit.
		if stop, err := startCPUProfile(path); err != nil {
			log.Warn("HOOKGATE_CPUPROFILE: not profiling", "error", err)
		} else {
			defer stop()
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return serve(serveOptions{
		configPath:      *path,
		allowDevSecrets: *allowDev,
		grace:           *grace,
		log:             log,
		level:           level,
		config:          cfg,
		configSum:       sum,
		stderr:          stderr,
		signals:         sigs,
		tracing:         tracing,
	})
}

func validFormat(f string) bool { return f == "text" || f == "json" || f == "auto" }

// newLogger writes to w in format (text, json, or auto: text when w is a
// terminal, json otherwise) at level.
func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logLevel is log.level as a slog level; validation allows only these.
func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// serve runs the gateway until SIGINT/SIGTERM, reloading on SIGHUP and
// when the config file changes, and returns the exit code.
func serve(o serveOptions) int {
	s, err := start(o)
	if err != nil {
		fmt.Fprintln(o.stderr, err)
		return exitError
	}
	code := exitOK
loop:
	for {
		select {
		case sig := <-o.signals:
			if sig == syscall.SIGHUP {
				// reload logs its own outcome; the old config stays on error.
				_, _ = s.reloader.reload("SIGHUP", false)
				continue
			}
			o.log.Info("shutting down", "signal", sig.String(), "grace", o.grace.String())
			break loop
		case err := <-s.listenErr:
			o.log.Error("listener failed", "error", err)
			code = exitError
			break loop
		}
	}
	// A second SIGINT/SIGTERM while shutting down means "now": what is
	// stored stays stored, and leases in flight expire and are handed back.
	done := make(chan struct{})
	go func() {
		s.shutdown(o.grace)
		close(done)
	}()
	for {
		select {
		case <-done:
			return code
		case sig := <-o.signals:
			if sig != syscall.SIGHUP {
				o.log.Warn("second signal, exiting without finishing the shutdown", "signal", sig.String())
				return exitError
			}
		}
	}
}

// startCPUProfile profiles the process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
