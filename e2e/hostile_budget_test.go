package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// attacker is the loopback address the attacks below come from; signed
// webhooks come from 127.0.0.1, another client as the gateway sees it.
const attacker = "127.0.0.2"

// fromAttacker dials every connection of an attack from attacker.
func fromAttacker(int) string { return attacker }

// spread dials connection i from an address of its own, 127.0.<base+i/250>.<1+i%250>:
// an attack from many clients.
func spread(base int) func(i int) string {
	return func(i int) string { return fmt.Sprintf("127.0.%d.%d", base+i/250, 1+i%250) }
}

// mustAcceptDuring sends n signed webhooks and fails unless each is
// answered 200: a provider must not be locked out by what others send.
func mustAcceptDuring(t *testing.T, g *gateway, what string, n int) {
	t.Helper()
	for i := range n {
		code, msg, err := g.sendIimmpact(iimmpactSecret, product(fmt.Sprintf("DURING-%s-%d", what, i), i).body())
		if err != nil || code != http.StatusOK {
			t.Errorf("%s: signed webhook got %d %q (%v), want 200", what, code, msg, err)
		}
	}
}

// The lock-out of issue 19 item 1: uploads that declare 5MB, send 1MB and
// a byte with a junk signature and stall. The budget once charged each
// the buffer it would grow to (4MB), so 17 of them held all 64MB and every
// provider got 503. Now an upload holds what it sent, one client address
// at most its share (server.max_pending_bytes_per_client), and small
// bodies have room of their own: signed webhooks from elsewhere get 200
// from 17 stalled uploads of one address, and from 80 of 80 addresses,
// which together want more than the whole budget.
func TestHostileBodyBudgetLockout(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	// The upload-rate floor would cut the stalled uploads within seconds:
	// off here, the budget alone must hold.
	w.server["min_upload_rate"] = "0"
	g := w.start()
	const declared, sent = 5_000_000, 1<<20 + 1

	closeAll := stallBodies(t, fromAttacker, g.listen, "/webhooks/iimmpact", 17, declared, sent)
	waitFor(t, 30e9, "17 stalled uploads holding budget", func() (bool, string) {
		n := g.metric(t, "hookgate_ingest_pending_bytes")
		return n >= 10<<20, fmt.Sprintf("pending bytes %d", n)
	})
	t.Logf("17 stalled uploads from one address hold %d MB of the budget", g.metric(t, "hookgate_ingest_pending_bytes")>>20)
	mustAcceptDuring(t, g, "17 stalled uploads from one address", 3)
	closeAll()

	closeAll = stallBodies(t, spread(1), g.listen, "/webhooks/iimmpact", 80, declared, sent)
	defer closeAll()
	waitFor(t, 30e9, "80 stalled uploads filling the budget", func() (bool, string) {
		n := g.metric(t, "hookgate_ingest_overload_refusals_total")
		return n > 0, fmt.Sprintf("overload refusals %d, pending bytes %d", n, g.metric(t, "hookgate_ingest_pending_bytes"))
	})
	t.Logf("80 stalled uploads from 80 addresses hold %d MB of the budget", g.metric(t, "hookgate_ingest_pending_bytes")>>20)
	mustAcceptDuring(t, g, "80 stalled uploads from 80 addresses", 3)
}

// Stalled uploads once held their budget until the 30-second read timeout
// and then got 400. A body slower than server.min_upload_rate (16KB/s by
// default, over 5-second windows) is answered 408 and its connection
// closed, and the budget it held comes back while the attacker still
// holds its sockets.
func TestHostileStalledUploadCut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	g := w.start()
	conns := dialMany(t, attacker, g.listen, 20)
	for _, conn := range conns {
		fmt.Fprintf(conn, "POST /webhooks/catalog360 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n%s",
			strings.Repeat("x", 100_000))
	}
	for i, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("stalled upload %d: %v, want a 408", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
			t.Errorf("stalled upload %d: %d, close %v; want 408 and the connection closed", i, resp.StatusCode, resp.Close)
		}
	}
	if n := g.metric(t, "hookgate_ingest_pending_bytes"); n != 0 {
		t.Errorf("after the stalled uploads were cut: %d bytes still held, want 0", n)
	}
	if n := g.metric(t, "hookgate_ingest_slow_upload_refusals_total"); n != 20 {
		t.Errorf("slow upload refusals: %d, want 20", n)
	}
}
