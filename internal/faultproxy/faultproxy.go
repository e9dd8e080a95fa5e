// Package faultproxy is a TCP proxy for tests that stands between a client
// under test (the gateway) and its server (Redis) and breaks the path
// between them on command: it resets every connection, refuses new ones,
// delays every chunk, or swallows everything (a blackhole), and heals.
//
// The faults are those of a real network and a real server going away,
// injected on purpose while the client is under load, so that a test can
// check what the client promises when its server misbehaves (issue 14).
// Every method is safe to call from any goroutine.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy forwards every connection accepted on Addr to the target, both
// ways, until a fault is injected. The zero value is not usable: Start
// makes one.
type Proxy struct {
	tb              testing.TB
	network, target string // where connections are forwarded
	addr            string // where the proxy listens, fixed for its life

	mu        sync.Mutex
	ln        net.Listener // nil while refusing
	conns     map[*pair]struct{}
	latency   time.Duration
	blackhole bool
	closed    bool
	wg        sync.WaitGroup // the accept loop and every pair's copiers
}

// pair is one proxied connection: the client's side and the server's.
type pair struct {
	client, server net.Conn
	// holed is set once a byte has been swallowed by a blackhole: the
	// stream has lost data, so it can never carry a correct exchange
	// again and stays in the hole after Heal, as a stream cut by a
	// partition does until the client's own timeout gives up on it.
	holed bool
}

// Start listens on a free loopback port and forwards to target: a TCP
// host:port, or a unix socket given as "unix:///path" or an absolute path
// (testredis's single server listens on one). The proxy is closed, and
// every connection through it, when tb ends.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	network := "tcp"
	if s, ok := strings.CutPrefix(target, "unix://"); ok {
		network, target = "unix", s
	} else if strings.HasPrefix(target, "/") {
		network = "unix"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{tb: tb, network: network, target: target, addr: ln.Addr().String(), conns: map[*pair]struct{}{}}
	p.serve(ln)
	tb.Cleanup(p.Close)
	return p
}

// Addr is where clients connect, 127.0.0.1:PORT. It stays the same across
// RefuseOn and RefuseOff, so a client configured with it finds the proxy
// again.
func (p *Proxy) Addr() string { return p.addr }

// URL is Addr as a go-redis URL, redis://127.0.0.1:PORT.
func (p *Proxy) URL() string { return "redis://" + p.addr }

// Conns is how many connections the proxy holds open now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// ResetAll aborts every open connection at once, with a TCP reset on the
// client's side (SO_LINGER 0, then close), as a server that crashed or a
// middlebox that dropped its state would. New connections are accepted as
// before: combine with RefuseOn for a server that stays away.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[*pair]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.reset()
	}
}

// RefuseOn stops listening: a new connection is refused (ECONNREFUSED),
// as when the server is down. Connections already open are left as they
// are; ResetAll ends them.
func (p *Proxy) RefuseOn() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// RefuseOff listens again on the same address. It fails the test if the
// port was taken in the meantime, which only another process could do.
func (p *Proxy) RefuseOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Errorf("faultproxy: listen again on %s: %v", p.addr, err)
		return
	}
	p.serveLocked(ln)
}

// Refuse refuses new connections for d, then listens again. It returns at
// once.
func (p *Proxy) Refuse(d time.Duration) {
	p.RefuseOn()
	time.AfterFunc(d, p.RefuseOff)
}

// Latency delays every chunk by d in each direction, on open connections
// and new ones; 0 takes the delay away. A request-reply exchange then
// takes at least 2d more.
func (p *Proxy) Latency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// Blackhole makes the proxy swallow everything, as a partitioned network
// does: connections are still accepted and held open, what either side
// sends is read and dropped, and nothing is ever answered, neither data
// nor a reset. Only the client's own timeouts can get it out.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = true
}

// Heal ends every fault: listening again, no delay, no blackhole. A
// connection that lost bytes to the blackhole stays in it (see pair.holed);
// the others and every new one are forwarded again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.latency = 0
	p.blackhole = false
	p.mu.Unlock()
	p.RefuseOff()
}

// Close stops the proxy and closes every connection through it. Start
// registers it with tb.Cleanup; calling it again does nothing.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	ln := p.ln
	p.ln = nil
	conns := p.conns
	p.conns = map[*pair]struct{}{}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for c := range conns {
		c.client.Close()
		c.server.Close()
	}
	p.wg.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

// serveLocked runs the accept loop of ln; p.mu is held.
func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by RefuseOn or Close
			}
			p.open(c)
		}
	}()
}

// open dials the target for a new client connection and starts copying.
// A blackholed connection is still dialed, so that healing finds it
// whole if it never lost a byte.
func (p *Proxy) open(client net.Conn) {
	server, err := net.DialTimeout(p.network, p.target, 5*time.Second)
	if err != nil {
		// The server itself is down: the client sees a reset, as it
		// would connecting to the server directly.
		resetConn(client)
		return
	}
	c := &pair{client: client, server: server}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	go p.copy(c, server, client)
	go p.copy(c, client, server)
}

// copy forwards src to dst chunk by chunk, asking before each chunk which
// fault applies, so that a fault takes effect on open connections at once.
// When either side ends, the whole pair is closed, as a proxy that keeps
// no half-open state does.
func (p *Proxy) copy(c *pair, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			delay, drop := p.fault(c)
			if delay > 0 {
				time.Sleep(delay)
			}
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				// The other side was reset: pass the reset on.
				resetConn(dst)
			}
			p.drop(c)
			return
		}
	}
}

// fault is what applies to the next chunk of c: a delay, or dropping it.
func (p *Proxy) fault(c *pair) (delay time.Duration, drop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blackhole {
		c.holed = true
	}
	return p.latency, c.holed
}

// drop forgets c and closes both sides (once closed, the other copier's
// Read returns and it calls drop too, which is then harmless).
func (p *Proxy) drop(c *pair) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.client.Close()
	c.server.Close()
}

// reset aborts both sides of c with a TCP reset.
func (c *pair) reset() {
	resetConn(c.client)
	resetConn(c.server)
}

// resetConn closes conn with SO_LINGER 0, which sends a RST instead of a
// FIN: the peer's next read or write fails with "connection reset by
// peer", not a clean end of stream.
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
