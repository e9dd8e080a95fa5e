package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// defaultGrace bounds a graceful shutdown. SPEC 2 has no key for it, so it
// is the -grace flag; 25s fits inside Kubernetes' default 30s termination
// grace period.
const defaultGrace = 25 * time.Second

// serveOptions is everything serve takes from outside, so that tests run it
// in-process with their own signals and learn the bound addresses.
type serveOptions struct {
	configPath string
	grace      time.Duration
	log        *slog.Logger
	stderr     io.Writer
	// signals delivers SIGHUP (reload) and SIGINT/SIGTERM (stop).
	signals <-chan os.Signal
	// ready, if set, is called once both listeners accept, with their
	// addresses (useful with port 0).
	ready func(public, admin net.Addr)
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configPathFlag(fs)
	grace := fs.Duration("grace", defaultGrace, "how long a shutdown may take to finish in-flight work")
	format := fs.String("log-format", "text", "log format: text or json")
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
	log, err := newLogger(stderr, *format)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate serve: %v\n", err)
		return exitUsage
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return serve(serveOptions{
		configPath: *path,
		grace:      *grace,
		log:        log,
		stderr:     stderr,
		signals:    sigs,
	})
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", format)
	}
}

// serve runs the gateway until SIGINT/SIGTERM, reloading on SIGHUP, and
// returns the exit code.
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
				// Reload logs its own outcome; the old config stays on error.
				_ = s.reloader.Reload()
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
