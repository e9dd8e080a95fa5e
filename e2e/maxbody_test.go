package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A body over server.max_body is answered 413, as a real client sending
// the whole body sees it, and nothing of it is stored.
func TestBodyOverMaxBody(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.server["max_body"] = "64KB"
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	for _, size := range []int{64<<10 + 1, 100 << 10, 1 << 20} {
		big := product("BIG", size)
		big.Data = json.RawMessage(`{"blob":"` + strings.Repeat("x", size) + `"}`)
		code, msg, err := g.sendIimmpact(iimmpactSecret, big.body())
		if err != nil || code != http.StatusRequestEntityTooLarge {
			t.Errorf("signed body of %d bytes over a max_body of 64KB: got %d %q (%v), want 413", len(big.body()), code, msg, err)
		}
	}
	// Just under the limit is accepted.
	small := product("SMALL", 1)
	small.Data = json.RawMessage(`{"blob":"` + strings.Repeat("x", 60<<10) + `"}`)
	g.mustAccept(small)
	r.waitN(t, 1, 30*time.Second)
	var page eventPage
	g.adminGet(t, "/admin/api/events?limit=500", &page)
	if len(page.Events) != 1 {
		t.Errorf("admin lists %d events, want only the one under the limit", len(page.Events))
	}
}

// sources.<name>.max_body replaces server.max_body for its source: a 2KB
// IIMMPACT body is 413 under a max_body of 1KB there, while catalog360,
// under server.max_body, takes a larger batch.
func TestSourceMaxBody(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.iimmpact["max_body"] = "1KB"
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	big := product("BIG", 1)
	big.Data = json.RawMessage(`{"blob":"` + strings.Repeat("x", 2<<10) + `"}`)
	if code, msg, err := g.sendIimmpact(iimmpactSecret, big.body()); err != nil || code != http.StatusRequestEntityTooLarge {
		t.Errorf("IIMMPACT body of %d bytes over its source's max_body of 1KB: got %d %q (%v), want 413", len(big.body()), code, msg, err)
	}
	g.mustAccept(product("SMALL", 1))
	batch := c360Batch([]c360Event{{EventClass: "assetitem_created", PayloadClass: "assetitem",
		Payload: map[string]any{"new": map[string]any{"id": "C1", "blob": strings.Repeat("y", 4<<10)}}}})
	if code, msg, err := g.sendC360(c360Key, batch); err != nil || code != http.StatusOK {
		t.Errorf("catalog360 batch of %d bytes under server.max_body: got %d %q (%v), want 200", len(batch), code, msg, err)
	}
	r.waitN(t, 2, 30*time.Second)
}
