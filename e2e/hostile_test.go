package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests treat the gateway as an attacker would, over raw TCP where a
// well-behaved client would not do what they do.

// rssCeiling is the most memory the gateway may hold under the attacks
// below: a container limit of 256MB leaves it room.
const rssCeiling = 200 << 20

// peakRSS is the process's high-water mark of resident memory (VmHWM).
func (g *gateway) peakRSS(t *testing.T) int64 {
	t.Helper()
	g.mu.Lock()
	pid := g.cmd.Process.Pid
	g.mu.Unlock()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// stallBodies opens n connections to path, connection i from the loopback
// address from(i), that each declare a body of declared bytes, send sent
// bytes of it with a junk signature, and stall. It returns once every
// connection has sent what it will (or was closed by the gateway) and a
// function that closes them all.
func stallBodies(t *testing.T, from func(i int) string, addr, path string, n, declared, sent int) (closeAll func()) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for i := range n {
		local := ""
		if from != nil {
			local = from(i)
		}
		conn, err := dialFrom(local, addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Webhook-Signature: sha256=%s\r\nContent-Length: %d\r\n\r\n",
				path, addr, strings.Repeat("0", 64), declared)
			// A write that blocks (the gateway reads no more) is cut
			// after a while: what matters is what the gateway holds.
			conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
			for left := sent; left > 0; left -= len(chunk) {
				if _, err := conn.Write(chunk[:min(left, len(chunk))]); err != nil {
					return // refused and closed by the gateway, or blocked
				}
			}
		}()
	}
	wg.Wait()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
}

// dialFrom connects to addr from the loopback address local ("" for the
// system's choice): 127.0.0.0/8 is all this machine's, so a test can play
// many clients, each with its own source address as the gateway sees it.
func dialFrom(local, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return d.Dial("tcp", addr)
}

// duringAttack checks what must hold while an attack from another address
// runs: health answers, and a signed webhook is answered 200, never left
// hanging nor refused for what the attacker holds.
func duringAttack(t *testing.T, g *gateway, what string) {
	t.Helper()
	for i := range 5 {
		code, err := g.getStatus("/healthz")
		if err != nil || code != http.StatusOK {
			t.Errorf("%s: /healthz got %s, want 200", what, statusDetail(code, err))
		}
		start := time.Now()
		code, msg, err := g.sendIimmpact(iimmpactSecret, product(fmt.Sprintf("DURING-%d", i), 1).body())
		if err != nil || code != http.StatusOK {
			t.Errorf("%s: signed webhook got %d %q (%v), want 200", what, code, msg, err)
		}
		t.Logf("%s: signed webhook answered %d in %v", what, code, time.Since(start).Round(time.Millisecond))
	}
}

// 1,000 connections from one address that declare 1MB bodies, send 900KB
// and stall, against an unknown source and then 800 against a real one:
// the gateway's memory stays bounded, health answers throughout, and a
// signed webhook from another address is accepted during the attack (the
// attacker holds no more than its share of the connections and of the
// body budget) and after it.
func TestHostileStalledBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	closeAll := stallBodies(t, fromAttacker, g.listen, "/webhooks/nosuch", 1000, 1_000_000, 900_000)
	duringAttack(t, g, "1,000 stalled bodies to an unknown source")
	closeAll()

	closeAll = stallBodies(t, fromAttacker, g.listen, "/webhooks/iimmpact", 800, 1_000_000, 900_000)
	duringAttack(t, g, "800 stalled bodies to a real source")
	// The attack was real: it filled its share of the body budget, and
	// the rest of it was refused.
	if n := g.metric(t, "hookgate_ingest_client_overload_refusals_total"); n == 0 {
		t.Errorf("800 stalled 1MB bodies from one address: no request refused for the client's share, want it filled")
	}
	peak := g.peakRSS(t)
	t.Logf("peak RSS %d MB", peak>>20)
	if peak > rssCeiling {
		t.Errorf("peak RSS under the attacks: %d MB, want under %d MB", peak>>20, rssCeiling>>20)
	}
	closeAll()

	// Once the attack ends, the held budget comes back and work flows.
	var code int
	waitFor(t, 30*time.Second, "a signed webhook accepted after the attack", func() (bool, string) {
		var msg string
		var err error
		code, msg, err = g.sendIimmpact(iimmpactSecret, product("AFTER", 1).body())
		return code == http.StatusOK, fmt.Sprintf("%d %q %v", code, msg, err)
	})
	r.waitSubjects(t, []string{"product/AFTER"}, 30*time.Second)
}

// Declaring a large body costs the attacker nothing to say; the budget
// holds what arrived, so 1,000 uploads that declare 1MB and trickle two
// bytes each leave signed webhooks their 200.
func TestHostileTrickledBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	// The upload-rate floor would cut the trickles within seconds: off
	// here, what they hold must be small by itself.
	w.server["min_upload_rate"] = "0"
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()
	closeAll := stallBodies(t, fromAttacker, g.listen, "/webhooks/iimmpact", 1000, 1_000_000, 2)
	defer closeAll()
	// The connections reach the handler in their own time; once the
	// gauge shows them holding budget, a signed webhook must still pass.
	waitFor(t, 30*time.Second, "trickled bodies holding budget", func() (bool, string) {
		n := g.metric(t, "hookgate_ingest_pending_bytes")
		return n > 0, fmt.Sprintf("pending bytes %d", n)
	})
	for i := range 5 {
		g.mustAccept(product(fmt.Sprintf("TRICKLE-%d", i), i))
	}
	r.waitSubjects(t, []string{"product/TRICKLE-4"}, 30*time.Second)
}

// metric reads one unlabelled sample from the admin /metrics.
func (g *gateway) metric(t *testing.T, name string) int64 {
	t.Helper()
	_, b, err := g.scrape(admin, g.token)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	for _, line := range strings.Split(b, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			// The exposition format writes large values with an exponent
			// (6.7108864e+07).
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, v)
			}
			return int64(n)
		}
	}
	t.Fatalf("no metric %s in /metrics", name)
	return 0
}

// Slow headers: hundreds of connections that send half a request line and
// stall hold no body memory and block nobody else.
func TestHostileSlowHeaders(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()
	var conns []net.Conn
	for range 500 {
		conn, err := dialFrom(attacker, g.listen)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /webhooks/iimmpact HTTP/1.1\r\nHost: %s\r\nContent-Le", g.listen)
		conns = append(conns, conn)
	}
	duringAttack(t, g, "500 connections stalled in their headers")
	g.mustAccept(product("SLOW-OK", 1))
	r.waitSubjects(t, []string{"product/SLOW-OK"}, 30*time.Second)
}

// rawPost sends one request over a new connection, written exactly as
// given, and returns the status code of the answer.
func rawPost(t *testing.T, addr, request string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	go io.Copy(conn, strings.NewReader(request))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Oversized and chunked bodies: a chunked body over max_body is 413 like a
// declared one; a small chunked body is read and verified as any other.
func TestHostileChunkedBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.server["max_body"] = "64KB"
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	chunked := func(body []byte, sig string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "POST /webhooks/iimmpact HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Webhook-Signature: %s\r\n\r\n", sig)
		for len(body) > 0 {
			n := min(len(body), 1000)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
			body = body[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.String()
	}
	big := bytes.Repeat([]byte("x"), 200<<10)
	if got := rawPost(t, g.listen, chunked(big, signIimmpact(iimmpactSecret, big))); got != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 200KB body (max_body 64KB): %d, want 413", got)
	}
	ok := product("CHUNKED", 1).body()
	if got := rawPost(t, g.listen, chunked(ok, signIimmpact(iimmpactSecret, ok))); got != http.StatusOK {
		t.Errorf("chunked signed event: %d, want 200", got)
	}
	r.waitSubjects(t, []string{"product/CHUNKED"}, 30*time.Second)
	// A declared length is judged on the body's first bytes, not its end.
	if got := rawPost(t, g.listen, "POST /webhooks/iimmpact HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n{\"t"); got != http.StatusRequestEntityTooLarge {
		t.Errorf("declared length of 1TB: %d, want 413", got)
	}
}

// Malformed JSON, signed, at every nesting depth and cut at every byte: a
// 400 each time, never a crash or a 5xx, and the gateway goes on.
func TestHostileMalformedJSON(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	nested := func(depth int) []byte {
		return []byte(`{"type":"product.updated","resource":"products","id":"N","timestamp":"2024-01-15T10:30:00.000Z","data":` +
			strings.Repeat(`{"a":[`, depth) + `1` + strings.Repeat(`]}`, depth) + `}`)
	}
	// Cut at every byte: each prefix is malformed JSON at its own depth.
	whole := nested(20)
	for i := 1; i < len(whole); i++ {
		body := whole[:i]
		if code, msg, err := g.sendIimmpact(iimmpactSecret, body); err != nil || code != http.StatusBadRequest {
			t.Fatalf("iimmpact body cut at byte %d of %d: got %d %q (%v), want 400", i, len(whole), code, msg, err)
		}
	}
	batch := c360Batch([]c360Event{{EventClass: "assetitem_updated", PayloadClass: "assetitem",
		Payload: map[string]any{"new": map[string]any{"id": "c1", "deep": []any{[]any{[]any{map[string]any{"x": 1}}}}}}}})
	for i := 1; i < len(batch); i++ {
		if code, msg, err := g.sendC360(c360Key, batch[:i]); err != nil || code != http.StatusBadRequest {
			t.Fatalf("catalog360 batch cut at byte %d of %d: got %d %q (%v), want 400", i, len(batch), code, msg, err)
		}
	}
	// Nesting far past any parser's stack, unbalanced and balanced.
	for _, depth := range []int{1000, 100_000, 1_000_000} {
		for _, body := range [][]byte{
			[]byte(strings.Repeat("[", depth)),
			[]byte(`{"type":"product.updated","data":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`),
		} {
			if code, msg, err := g.sendIimmpact(iimmpactSecret, body); err != nil || code != http.StatusBadRequest {
				t.Errorf("nesting %d (%d bytes): got %d %.80q (%v), want 400", depth, len(body), code, msg, err)
			}
		}
	}
	g.mustAccept(product("STILL-OK", 1))
	r.waitSubjects(t, []string{"product/STILL-OK"}, 30*time.Second)
}
