package e2e

import (
	"fmt"
	"net"
	"testing"
)

// dialMany opens n connections to addr from the loopback address local,
// closed when the test ends.
func dialMany(t *testing.T, local, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		conn, err := dialFrom(local, addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", local, err)
		}
		conns = append(conns, conn)
	}
	return conns
}

// One client address once could take every connection the listener
// serves (2048), idle, and a signed webhook from anywhere got 503 (issue
// 19 item 2). Now an address gets its share
// (server.max_conns_per_client): 2,100 idle connections from one address
// leave the others their 200, and the refusals are counted.
func TestHostileIdleConnections(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	g := w.start()
	dialMany(t, attacker, g.listen, 2100)
	// Connections are accepted in their own time: once the refusals show,
	// the listener has seen more of them than an address may hold.
	waitFor(t, 30e9, "connections over the per-client share refused", func() (bool, string) {
		n := g.metric(t, "hookgate_ingest_connection_refusals_total")
		return n > 0, fmt.Sprintf("refusals %d", n)
	})
	t.Logf("2,100 idle connections from one address: %d refused, %d open",
		g.metric(t, "hookgate_ingest_connection_refusals_total"), g.metric(t, "hookgate_ingest_connections"))
	mustAcceptDuring(t, g, "2,100 idle connections from one address", 3)
}
