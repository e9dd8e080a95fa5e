// Package e2e runs the real hookgate binary: it builds it once, writes a
// config.yaml per test, starts the gateway as a child process, sends signed
// upstream requests and watches real subscribers (httptest servers) and the
// admin API. Nothing of the gateway is imported; the tests only speak the
// contract of /work/shared/SPEC.md.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the binary built for this run; TestMain removes it.
var binDir string

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	// The fault matrix, when fault tests ran: after every test, so that
	// it ends the output of `make chaos`.
	printFaultTable(os.Stdout)
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary returns the path of the hookgate binary, building it on first use
// so that a run of only the harness's own tests needs no build.
// HOOKGATE_E2E_RACE=1 builds it with the race detector (slower, 2 cores);
// HOOKGATE_E2E_BIN=PATH tests that binary instead (a release build).
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("HOOKGATE_E2E_BIN"); p != "" {
			binPath, buildErr = filepath.Abs(p)
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "hookgate")
		args := []string{"build", "-o", binPath}
		if os.Getenv("HOOKGATE_E2E_RACE") == "1" {
			args = append(args, "-race")
		}
		args = append(args, ".")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build hookgate: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer collects a child's output; the process writes from its own
// goroutine while a test may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the last n lines of s, so that a failing crash test does not
// flood the log with ten thousand request lines.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("[... %d lines cut ...]\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], "\n"))
}

// gateway is one running (or stopped) `hookgate serve` process.
type gateway struct {
	t      *testing.T
	name   string
	config string   // path of its config.yaml
	listen string   // public listener, host:port
	admin  string   // admin listener, host:port
	token  string   // admin bearer token
	flags  []string // more serve flags (-grace)
	env    []string // more environment (SSL_CERT_FILE), after the test's own
	// tlsClient, when set, trusts the public listener's certificate: the
	// gateway serves HTTPS.
	tlsClient *http.Client

	mu      sync.Mutex
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{} // closed when the process has exited
	exitErr error
	runs    int
}

// start runs the gateway process and waits until /readyz answers 200. On
// failure of the test, its output is logged.
func (g *gateway) start() {
	g.t.Helper()
	g.launch()
	g.waitReady()
}

// launch runs the gateway process without waiting for it to be ready: for
// a test of a gateway that must not become ready.
func (g *gateway) launch() {
	g.t.Helper()
	bin := binary(g.t)
	g.mu.Lock()
	g.runs++
	out := &syncBuffer{}
	cmd := exec.Command(bin, append([]string{"serve", "-config", g.config}, g.flags...)...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = append(os.Environ(), g.env...)
	if err := cmd.Start(); err != nil {
		g.mu.Unlock()
		g.t.Fatalf("start %s: %v", g.name, err)
	}
	done := make(chan struct{})
	g.cmd, g.out, g.done = cmd, out, done
	run := g.runs
	g.mu.Unlock()
	go func() {
		err := cmd.Wait()
		g.mu.Lock()
		g.exitErr = err
		g.mu.Unlock()
		close(done)
	}()
	g.t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
		// A -race binary (HOOKGATE_E2E_RACE=1) reports and goes on; a
		// killed one never gets to exit 66, so its output is the witness.
		if strings.Contains(out.String(), "WARNING: DATA RACE") {
			g.t.Errorf("%s (run %d) reported a data race", g.name, run)
		}
		if g.t.Failed() {
			g.t.Logf("--- %s (run %d) output:\n%s", g.name, run, tail(out.String(), 120))
		}
	})
}

// waitReady polls GET /readyz until 200, failing early if the process dies.
func (g *gateway) waitReady() {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			g.t.Fatalf("%s exited before it was ready (%v); output:\n%s", g.name, g.exitErr, tail(g.out.String(), 60))
		default:
		}
		resp, err := g.client().Get(g.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(25 * time.Millisecond)
	}
	g.t.Fatalf("%s: /readyz not 200 within 30s (last: %s); output:\n%s", g.name, last, tail(g.out.String(), 60))
}

// stop sends SIGTERM and requires exit status 0 within 30s.
func (g *gateway) stop() {
	g.t.Helper()
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		g.t.Fatalf("SIGTERM %s: %v", g.name, err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		g.t.Fatalf("%s did not exit within 30s of SIGTERM; output:\n%s", g.name, tail(g.out.String(), 60))
	}
	g.mu.Lock()
	err := g.exitErr
	g.mu.Unlock()
	if err != nil {
		g.t.Fatalf("%s after SIGTERM: got %v, want exit status 0; output:\n%s", g.name, err, tail(g.out.String(), 60))
	}
}

// signal sends sig to the running process.
func (g *gateway) signal(sig os.Signal) {
	g.t.Helper()
	g.mu.Lock()
	cmd := g.cmd
	g.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		g.t.Fatalf("signal %s %v: %v", g.name, sig, err)
	}
}

// kill sends SIGKILL, as a crash would, and waits for the process to go.
func (g *gateway) kill() {
	g.t.Helper()
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.mu.Unlock()
	cmd.Process.Kill()
	<-done
	var ee *exec.ExitError
	g.mu.Lock()
	err := g.exitErr
	g.mu.Unlock()
	if !errors.As(err, &ee) {
		g.t.Fatalf("%s after SIGKILL: got %v, want a killed process", g.name, err)
	}
}

// output is what the current run has printed so far.
func (g *gateway) output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. Another process could take it before the gateway binds; the gateway
// then fails to start and the test says so.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// pid is the process id of the current run.
func (g *gateway) pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cmd.Process.Pid
}

// exited reports whether the current run has ended, and how.
func (g *gateway) exited() (bool, error) {
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	select {
	case <-done:
		g.mu.Lock()
		defer g.mu.Unlock()
		return true, g.exitErr
	default:
		return false, nil
	}
}

// procStatus reads a size field of the process's /proc/<pid>/status, such
// as "VmRSS" (resident memory now) or "VmHWM" (its high-water mark), in
// bytes. It fails (rather than failing the test) once the process is gone.
func (g *gateway) procStatus(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", field, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, g.pid())
}
