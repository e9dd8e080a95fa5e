package routes_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/plugins/iimmpact"
	"github.com/hookgate/hookgate/routes"
)

// budgetApp is a public app with max_body 16KB and a body budget of 32KB
// (server.max_pending_bytes), served on a loopback port; it returns the
// address, and the admin app.
func budgetApp(t *testing.T) (string, *fiber.App) {
	t.Helper()
	public, admin := sourceApps(t, "server:\n  max_body: 16KB\n  max_pending_bytes: 32KB\n", nil, 0)
	return strings.TrimPrefix(listen(t, public), "http://"), admin
}

// sourceApps are the apps of a gateway with the source "shop" and no
// subscriber, server block as given, on an embedded store (wrapped by
// wrap, when set), with Deps.StoreTimeout storeTimeout (0: the default).
func sourceApps(t testing.TB, server string, wrap func(gateway.Store) gateway.Store, storeTimeout time.Duration) (public, admin *fiber.App) {
	t.Helper()
	cfg := testConfig(t, "source-test.yaml", server+`
sources:
  shop:
    provider: iimmpact
    secrets: ["`+shopSecret+`"]
`)
	store := testStore(t)
	if wrap != nil {
		store = wrap(store)
	}
	eng := deliver.New(store, cfg.Subscribers, deliver.Options{})
	in := testIngester(t, cfg, store, nil)
	return routes.New(routes.Deps{Ingester: in, Store: store, Engine: eng, Version: "test", StoreTimeout: storeTimeout})
}

// stalled opens a connection that declares a body of length bytes on path,
// sends sent bytes of it, and stops there. It returns the connection.
func stalled(t *testing.T, addr, path string, length, sent int) net.Conn {
	t.Helper()
	return stalledFrom(t, "", addr, path, length, sent)
}

// stalledFrom is stalled with the connection dialled from the loopback
// address local ("": the system's choice, 127.0.0.1).
func stalledFrom(t *testing.T, local, addr, path string, length, sent int) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, length)
	if _, err := conn.Write([]byte(strings.Repeat(" ", sent))); err != nil {
		t.Fatal(err)
	}
	return conn
}

// response reads one response from conn.
func response(t *testing.T, conn net.Conn) *http.Response {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// waitHeld waits until the stalled bodies hold want bytes of the budget
// (the hookgate_ingest_pending_bytes gauge): they reach the handler in their
// own time, and a request sent before they do could take the budget they
// are meant to hold. No timing is asserted; it fails after 10s.
func waitHeld(t *testing.T, admin *fiber.App, want int) {
	t.Helper()
	line := fmt.Sprintf("hookgate_ingest_pending_bytes %d\n", want)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, metrics := do(t, admin, adminReq(http.MethodGet, "http://127.0.0.1/metrics", ""))
		if strings.Contains(string(metrics), line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stalled bodies never came to hold %d bytes of the budget", want)
		}
	}
}

// signedPost sends one signed iimmpact event on a new connection and
// returns the response.
func signedPost(t *testing.T, addr, id string) *http.Response {
	t.Helper()
	body := product(id)
	_, sig := iimmpact.Provider{}.Sign([]byte(body), []byte(shopSecret))
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/shop", strings.NewReader(body))
	req.Header.Set(iimmpact.Header, sig)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// An unknown source is answered 404 from the headers alone: the body is
// not waited for, and the connection is closed rather than drained.
func TestUnknownSourceAnsweredBeforeBody(t *testing.T) {
	addr, _ := budgetApp(t)
	conn := stalled(t, addr, "/webhooks/nosuch", 1<<20, 100)
	if resp := response(t, conn); resp.StatusCode != fiber.StatusNotFound || !resp.Close {
		t.Errorf("unknown source with a stalled 1MB body: %d, close %v; want 404 and the connection closed", resp.StatusCode, resp.Close)
	}
}

// Bodies in memory are bounded by max_pending_bytes: while stalled bodies
// hold the budget, a new request is refused 503 with Retry-After before
// its body is read; once they let go, it is taken.
func TestPendingBytesBudget(t *testing.T) {
	addr, admin := budgetApp(t)
	// Two 16KB bodies, all but sent, take the whole 32KB.
	a := stalled(t, addr, "/webhooks/shop", 16<<10, 15<<10)
	b := stalled(t, addr, "/webhooks/shop", 16<<10, 15<<10)
	waitHeld(t, admin, 32<<10)
	resp := signedPost(t, addr, "P0")
	if resp.StatusCode != fiber.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("signed webhook while the budget is held: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// A request that finds the budget full is refused at once: this one
	// declares 16KB and sends two bytes (fasthttp reads that far ahead
	// before it calls the handler), and still gets its answer.
	c := stalled(t, addr, "/webhooks/shop", 16<<10, 2)
	if resp := response(t, c); resp.StatusCode != fiber.StatusServiceUnavailable || !resp.Close {
		t.Errorf("stalled request over budget: %d, close %v; want 503 and the connection closed", resp.StatusCode, resp.Close)
	}
	_, metrics := do(t, admin, adminReq(http.MethodGet, "http://127.0.0.1/metrics", ""))
	for _, want := range []string{"hookgate_ingest_pending_bytes 32768\n", "hookgate_ingest_pending_limit_bytes 32768\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics while the budget is held lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(string(metrics), "hookgate_ingest_overload_refusals_total 0\n") {
		t.Error("/metrics counts no overload refusal after two 503s")
	}
	a.Close()
	b.Close()
	for i := 0; ; i++ {
		resp = signedPost(t, addr, fmt.Sprintf("Q%d", i))
		if resp.StatusCode == fiber.StatusOK || i == 500 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.StatusCode != fiber.StatusOK {
		t.Errorf("signed webhook after the stalled bodies went away: %d, want 200", resp.StatusCode)
	}
}

// Budget is held for bytes that arrived, not for declared lengths: clients
// that declare large bodies and trickle a few bytes hold a first buffer
// each, and signed webhooks still get through.
func TestDeclaredLengthHoldsNoBudget(t *testing.T) {
	addr, _ := budgetApp(t)
	for range 6 { // 6 x 4KB of the 32KB budget
		stalled(t, addr, "/webhooks/shop", 16<<10, 2)
	}
	if resp := signedPost(t, addr, "T1"); resp.StatusCode != fiber.StatusOK {
		t.Errorf("signed webhook beside 6 trickling 16KB uploads: %d, want 200", resp.StatusCode)
	}
}

// A chunked body takes budget as it grows: one that would pass the budget
// is refused 503 part-way, and one over max_body is 413.
func TestChunkedBodyLimits(t *testing.T) {
	addr, admin := budgetApp(t)
	chunked := func(size int) int {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		for sent := 0; sent < size; sent += 1024 {
			fmt.Fprintf(conn, "400\r\n%s\r\n", strings.Repeat("x", 1024))
		}
		fmt.Fprintf(conn, "0\r\n\r\n")
		return response(t, conn).StatusCode
	}
	if got := chunked(20 << 10); got != fiber.StatusRequestEntityTooLarge {
		t.Errorf("chunked 20KB body (max_body 16KB): %d, want 413", got)
	}
	// Unsigned small chunked body: read in full, then refused as unsigned.
	if got := chunked(2 << 10); got != fiber.StatusUnauthorized {
		t.Errorf("chunked 2KB unsigned body: %d, want 401", got)
	}
	// With most of the budget held, a chunked body is refused once it
	// grows past what is left.
	a := stalled(t, addr, "/webhooks/shop", 16<<10, 15<<10) // holds 16KB
	b := stalled(t, addr, "/webhooks/shop", 12<<10, 11<<10) // holds 12KB
	waitHeld(t, admin, 28<<10)
	if got := chunked(8 << 10); got != fiber.StatusServiceUnavailable {
		t.Errorf("chunked 8KB body with 4KB of budget left: %d, want 503", got)
	}
	a.Close()
	b.Close()
}

// stallingStore is a real store whose Put waits until its context ends,
// as a stalled disk or Redis would.
type stallingStore struct{ gateway.Store }

func (s stallingStore) Put(ctx context.Context, evs []gateway.NewEvent) ([]gateway.PutResult, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A store that does not answer costs an ingest request its StoreTimeout,
// then a 503 (the provider retries) and the body's budget back; never a
// request held for as long as the store stalls.
func TestStalledStoreIs503(t *testing.T) {
	stall := func(s gateway.Store) gateway.Store { return stallingStore{s} }
	public, admin := sourceApps(t, "", stall, 50*time.Millisecond)
	if got, body := do(t, public, webhook("shop", product("S1"), shopSecret)); got != fiber.StatusServiceUnavailable {
		t.Errorf("POST with the store stalled = %d (%s), want 503", got, body)
	}
	_, metrics := do(t, admin, adminReq(http.MethodGet, "http://127.0.0.1/metrics", ""))
	if !strings.Contains(string(metrics), "hookgate_ingest_pending_bytes 0\n") {
		t.Errorf("/metrics after the 503: the body's budget was not given back")
	}
}
