package routes

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// connLimiter counts the public listener's open connections per client
// address (clientOf: an IPv4 address, an IPv6 /64) and refuses those past
// server.max_conns_per_client as they are accepted, so that one client
// cannot hold every connection the listener serves (maxConns) and lock
// the providers out with idle sockets. It reads the limit in force at each
// accept: a reload applies to new connections.
type connLimiter struct {
	limit func() int // 0: no per-client limit

	mu      sync.Mutex
	clients map[netip.Addr]int // no zero entries

	open    atomic.Int64 // connections open now
	refused atomic.Int64 // connections refused for a client's share
}

func newConnLimiter(limit func() int) *connLimiter {
	return &connLimiter{limit: limit, clients: map[netip.Addr]int{}}
}

// Open is how many connections are open now.
func (l *connLimiter) Open() int64 { return l.open.Load() }

// Refused is how many connections were refused for a client's share.
func (l *connLimiter) Refused() int64 { return l.refused.Load() }

// admit counts a new connection from client, or reports false when the
// client holds its share already.
func (l *connLimiter) admit(client netip.Addr) bool {
	limit := l.limit()
	l.mu.Lock()
	defer l.mu.Unlock()
	if limit > 0 && l.clients[client] >= limit {
		l.refused.Add(1)
		return false
	}
	l.clients[client]++
	l.open.Add(1)
	return true
}

func (l *connLimiter) done(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.clients[client] - 1; n > 0 {
		l.clients[client] = n
	} else {
		delete(l.clients, client)
	}
	l.open.Add(-1)
}

// limitListener is a net.Listener whose Accept returns only connections
// the limiter admits.
type limitListener struct {
	net.Listener
	l *connLimiter
}

// refusal is what a connection past its client's share is told before it
// is closed: a 503 with Retry-After, as for any other overload, so a
// provider retries.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nConnection: close\r\n" +
	"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n" +
	`{"error":"too many connections from this address"}`

// refusalTimeout bounds the write of refusal: the socket is new and its
// buffer empty, so it only waits on a client that does not read at all.
const refusalTimeout = time.Second

func (ln limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var client netip.Addr
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			client = clientOf(a.IP)
		}
		if !ln.l.admit(client) {
			go refuse(c)
			continue
		}
		return &limitedConn{Conn: c, l: ln.l, client: client}, nil
	}
}

// refuse answers a refused connection and closes it, off the accept loop.
func refuse(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(refusalTimeout))
	c.Write([]byte(refusal))
	c.Close()
}

// limitedConn gives its place back when closed (once, however often
// Close is called).
type limitedConn struct {
	net.Conn
	l      *connLimiter
	client netip.Addr
	once   sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.done(c.client) })
	return err
}
