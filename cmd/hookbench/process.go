package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is a server process under test (the gateway or the floor), its
// output going to a log file in the run's directory.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error        // Wait's result, once done is closed
	hwm     atomic.Int64 // peak RSS in bytes, as last read; see peakRSS
}

func startProc(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	go p.watchRSS(50 * time.Millisecond)
	return p, nil
}

// waitReady polls url until it answers 200, the process exits, or timeout.
func (p *proc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", p.name, p.err, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready at %s within %v; its log ends:\n%s", p.name, url, timeout, p.logTail())
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns the exit code (-1 when killed or unknown) and how
// long the exit took.
func (p *proc) stop(grace time.Duration) (code int, took time.Duration) {
	start := time.Now()
	select {
	case <-p.done:
	default:
		p.sampleRSS()
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			p.cmd.Process.Kill()
			<-p.done
			return -1, time.Since(start)
		}
	}
	var exit *exec.ExitError
	switch {
	case p.err == nil:
		return 0, time.Since(start)
	case errors.As(p.err, &exit):
		return exit.ExitCode(), time.Since(start)
	}
	return -1, time.Since(start)
}

// peakRSS is the process's high-water mark of resident memory, in bytes,
// as its VmHWM last read (0 when never read: not Linux, or it exited at
// once). It is not getrusage's ru_maxrss: Go starts children with vfork
// (CLONE_VM), and Linux folds the parent's high-water RSS into the child's
// ru_maxrss at exec, so every server would report at least hookbench's own
// peak. VmHWM belongs to the memory the exec'd program got.
func (p *proc) peakRSS() int64 { return p.hwm.Load() }

// watchRSS reads VmHWM every interval until the process exits. VmHWM is a
// high-water mark itself, so only growth after the last reading (in the
// last interval before exit) can be missed; stop reads once more before
// SIGTERM.
func (p *proc) watchRSS(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p.sampleRSS()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

func (p *proc) sampleRSS() {
	select {
	case <-p.done: // reaped: the pid may be another process's by now
		return
	default:
	}
	if b, ok := vmHWM(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); ok {
		for {
			cur := p.hwm.Load()
			if b <= cur || p.hwm.CompareAndSwap(cur, b) {
				break
			}
		}
	}
}

// vmHWM reads the "VmHWM: <n> kB" line of a /proc/<pid>/status file, in
// bytes; false when the file or the line is missing (a zombie has none).
func vmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// freeAddr returns a loopback address with a port free right now. Another
// process could take it before the server binds it; on a bench machine that
// race is remote enough.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// randomHex returns n random bytes, hex encoded: run ids and upstream secrets.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomWhsec returns a fresh Standard Webhooks secret, "whsec_<base64>".
func randomWhsec() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
