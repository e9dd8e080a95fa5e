package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echo is a real TCP (or unix) echo server that counts the bytes it got,
// so a test can tell a dropped request from a dropped answer.
type echo struct {
	ln       net.Listener
	received atomic.Int64
}

func startEcho(t *testing.T, network, addr string) *echo {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("echo listen: %v", err)
	}
	e := &echo{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						e.received.Add(int64(n))
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return e
}

// dial connects to the proxy, failing the test if it cannot.
func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends line and reads it back within timeout.
func roundTrip(c net.Conn, line string, timeout time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

func mustEcho(t *testing.T, c net.Conn, line string) {
	t.Helper()
	got, err := roundTrip(c, line, 2*time.Second)
	if err != nil || got != line {
		t.Fatalf("echo %q: got %q, %v; want it back", line, got, err)
	}
}

func TestPass(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	c := dial(t, p)
	mustEcho(t, c, "hello")
	mustEcho(t, c, "again")
}

// The single Redis of the tests listens on a unix socket: the proxy
// reaches it by its path, given either way.
func TestUnixTarget(t *testing.T) {
	dir, err := os.MkdirTemp("", "fp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "echo.sock")
	startEcho(t, "unix", sock)
	for _, target := range []string{"unix://" + sock, sock} {
		mustEcho(t, dial(t, Start(t, target)), "over a socket")
	}
}

func TestResetAll(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	c1, c2 := dial(t, p), dial(t, p)
	mustEcho(t, c1, "one")
	mustEcho(t, c2, "two")
	p.ResetAll()
	for i, c := range []net.Conn{c1, c2} {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read on connection %d after ResetAll: got %v, want connection reset", i+1, err)
		}
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("after ResetAll: %d connections held, want 0", n)
	}
	// New connections pass.
	mustEcho(t, dial(t, p), "after the reset")
}

func TestRefuse(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	open := dial(t, p)
	mustEcho(t, open, "before")

	p.RefuseOn()
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("dial while refusing: connected, want refused")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial while refusing: got %v, want connection refused", err)
	}
	// A connection opened before is left alone.
	mustEcho(t, open, "while refusing")

	p.RefuseOff()
	mustEcho(t, dial(t, p), "after")

	// Refuse(d) listens again by itself, on the same address.
	p.Refuse(100 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("dial right after Refuse: connected, want refused")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			mustEcho(t, c, "after Refuse(d)")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused 5s after Refuse(100ms): %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A proxy whose target is down answers a new connection with a reset, as
// the target itself would have refused it.
func TestTargetDown(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	e.ln.Close()
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if errors.Is(err, syscall.ECONNRESET) {
		return // the reset came before connect returned
	} else if err != nil {
		t.Fatalf("dial proxy: got %v, want a connection or a reset", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read through a proxy to a closed port: got data, want an error")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("read through a proxy to a closed port: hung, want a reset")
	}
}

func TestLatency(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	c := dial(t, p)
	mustEcho(t, c, "warm")

	const d = 100 * time.Millisecond
	p.Latency(d)
	start := time.Now()
	mustEcho(t, c, "slow")
	// A lower bound, which no machine's slowness can break: the chunk
	// waited d on its way there and d on its way back.
	if took := time.Since(start); took < 2*d {
		t.Errorf("round trip with Latency(%v): took %v, want at least %v", d, took, 2*d)
	}
	p.Heal()
	mustEcho(t, c, "healed")
}

func TestBlackhole(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	old := dial(t, p)
	mustEcho(t, old, "before")
	before := e.received.Load()

	p.Blackhole()
	// Both an open connection and a new one swallow what is sent: no
	// answer, no reset, and the server gets nothing.
	fresh := dial(t, p)
	for name, c := range map[string]net.Conn{"open": old, "new": fresh} {
		_, err := roundTrip(c, "into the hole", 200*time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s connection in the blackhole: got %v, want a read timeout", name, err)
		}
	}
	if got := e.received.Load(); got != before {
		t.Errorf("server received %d bytes through the blackhole, want 0", got-before)
	}
	if n := p.Conns(); n != 2 {
		t.Errorf("blackhole holds %d connections, want both held open", n)
	}

	p.Heal()
	// A stream that lost bytes stays in the hole: it could only answer
	// out of step now.
	if _, err := roundTrip(old, "after heal", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection that lost bytes, after Heal: got %v, want still swallowed", err)
	}
	mustEcho(t, dial(t, p), "a new connection after heal")
}

// A connection opened during the blackhole that never sent a byte is
// whole, and Heal gives it back.
func TestBlackholeUntouchedConnectionHeals(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	p.Blackhole()
	c := dial(t, p)
	p.Heal()
	mustEcho(t, c, "never touched the hole")
}

func TestClose(t *testing.T) {
	e := startEcho(t, "tcp", "127.0.0.1:0")
	p := Start(t, e.ln.Addr().String())
	c := dial(t, p)
	mustEcho(t, c, "before")
	p.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Errorf("read after Close: got %v, want the connection closed", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("dial after Close: connected, want refused")
	}
	p.Close() // again: harmless (Cleanup calls it once more too)
}
