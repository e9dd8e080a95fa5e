package routes_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/routes"
)

// serverApp is a public app with the source "shop" and the server block
// given, on a loopback port; it returns the address and the admin app.
func serverApp(t *testing.T, server string) (string, *fiber.App) {
	t.Helper()
	public, admin := sourceApps(t, "server:\n"+server, nil, 0)
	return strings.TrimPrefix(listen(t, public), "http://"), admin
}

// An upload holds the bytes it sent and at most one chunk more, not the
// buffer its declared length would grow to: one that declares 1MB and
// sends 100KB holds 128KB (the fourfold buffer once held 256KB, so that 17
// uploads of 1MB and a byte held 64MB).
func TestBudgetHoldsBytesReceived(t *testing.T) {
	addr, admin := serverApp(t, "  max_body: 1MB\n  max_pending_bytes: 4MB\n  min_upload_rate: 0\n")
	stalled(t, addr, "/webhooks/shop", 1<<20, 100<<10)
	waitHeld(t, admin, 128<<10)
}

// One client address holds at most its share of the budget: its next
// upload is refused 503 while another address's webhook gets 200.
func TestBudgetClientShare(t *testing.T) {
	addr, admin := serverApp(t, "  max_body: 16KB\n  max_pending_bytes: 256KB\n  max_pending_bytes_per_client: 32KB\n  min_upload_rate: 0\n")
	stalledFrom(t, "127.0.0.2", addr, "/webhooks/shop", 16<<10, 15<<10)
	stalledFrom(t, "127.0.0.2", addr, "/webhooks/shop", 16<<10, 15<<10)
	waitHeld(t, admin, 32<<10)
	c := stalledFrom(t, "127.0.0.2", addr, "/webhooks/shop", 16<<10, 2)
	if resp := response(t, c); resp.StatusCode != fiber.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third upload from an address holding its share: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := signedPost(t, addr, "OTHER"); resp.StatusCode != fiber.StatusOK {
		t.Errorf("signed webhook from another address: %d, want 200", resp.StatusCode)
	}
	_, metrics := do(t, admin, adminReq(http.MethodGet, "http://127.0.0.1/metrics", ""))
	if !strings.Contains(string(metrics), "hookgate_ingest_client_overload_refusals_total 1\n") {
		t.Errorf("/metrics does not count the one refusal for the client's share")
	}
}

// The last eighth of the budget is kept for small requests: large
// uploads that take all the rest leave a signed webhook its 200, and a
// third large upload is refused once it grows past small.
func TestBudgetSmallReserve(t *testing.T) {
	addr, admin := serverApp(t, "  max_body: 512KB\n  max_pending_bytes: 1MB\n  max_pending_bytes_per_client: 0\n  min_upload_rate: 0\n")
	// Each holds 448KB (its chunks): 896KB, all but the reserve of 128KB.
	stalled(t, addr, "/webhooks/shop", 512<<10, 440<<10)
	stalled(t, addr, "/webhooks/shop", 512<<10, 440<<10)
	waitHeld(t, admin, 896<<10)
	if resp := signedPost(t, addr, "SMALL"); resp.StatusCode != fiber.StatusOK {
		t.Errorf("small signed webhook beside large uploads holding all but the reserve: %d, want 200", resp.StatusCode)
	}
	c := stalled(t, addr, "/webhooks/shop", 512<<10, 100<<10)
	if resp := response(t, c); resp.StatusCode != fiber.StatusServiceUnavailable {
		t.Errorf("large upload into the reserve: %d, want 503", resp.StatusCode)
	}
}

// A body slower than server.min_upload_rate is answered 408 and its
// connection closed, and its budget comes back while the client still
// holds the socket.
func TestMinUploadRate(t *testing.T) {
	addr, admin := serverApp(t, "  max_body: 1MB\n  max_pending_bytes: 4MB\n  min_upload_rate: 1KB/s\n")
	c := stalled(t, addr, "/webhooks/shop", 1<<20, 1000)
	if resp := response(t, c); resp.StatusCode != fiber.StatusRequestTimeout || !resp.Close {
		t.Errorf("stalled upload under min_upload_rate: %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
	}
	waitHeld(t, admin, 0)
	_, metrics := do(t, admin, adminReq(http.MethodGet, "http://127.0.0.1/metrics", ""))
	if !strings.Contains(string(metrics), "hookgate_ingest_slow_upload_refusals_total 1\n") {
		t.Errorf("/metrics does not count the slow upload")
	}
	// A body sent at once is not held to the rate.
	if resp := signedPost(t, addr, "FAST"); resp.StatusCode != fiber.StatusOK {
		t.Errorf("signed webhook: %d, want 200", resp.StatusCode)
	}
}

// sources.<name>.max_body replaces server.max_body for that source: a
// body over it is 413, declared or not.
func TestSourceMaxBody(t *testing.T) {
	cfg := testConfig(t, "source-max-body.yaml", `
sources:
  shop:
    provider: iimmpact
    secrets: ["`+shopSecret+`"]
    max_body: 1KB
`)
	store := testStore(t)
	in := testIngester(t, cfg, store, nil)
	public, _ := routes.New(routes.Deps{Ingester: in, Store: store, Engine: deliver.New(store, cfg.Subscribers, deliver.Options{}), Version: "test"})
	addr := strings.TrimPrefix(listen(t, public), "http://")
	if resp := signedPost(t, addr, "SMALL"); resp.StatusCode != fiber.StatusOK {
		t.Errorf("signed webhook under the source's max_body: %d, want 200", resp.StatusCode)
	}
	if resp := signedPost(t, addr, strings.Repeat("L", 2<<10)); resp.StatusCode != fiber.StatusRequestEntityTooLarge {
		t.Errorf("signed webhook of 2KB over the source's max_body of 1KB (server.max_body 5MB): %d, want 413", resp.StatusCode)
	}
}

// A body within max_body is taken however small the budget the config
// allows (max_pending_bytes may equal max_body): what its decoding and
// storing cost is charged up to what the budget can ever hold, so that it
// waits for a quiet budget rather than be refused 503 on every retry.
func TestBudgetSmallerThanProcessing(t *testing.T) {
	addr, admin := serverApp(t, "  max_body: 16KB\n  max_pending_bytes: 16KB\n  max_pending_bytes_per_client: 0\n  min_upload_rate: 0\n")
	id := strings.Repeat("B", 4000) // a body of about 8KB: 20KB to decode and store
	for i := range 3 {
		if resp := signedPost(t, addr, id); resp.StatusCode != fiber.StatusOK {
			t.Fatalf("signed webhook of 8KB, max_body and max_pending_bytes 16KB, try %d: %d, want 200", i+1, resp.StatusCode)
		}
	}
	waitHeld(t, admin, 0)
}
