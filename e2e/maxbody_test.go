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
