package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// sources.iimmpact.max_event_age: a replay of an event older than that is
// answered 200, so the upstream stops, and reaches no subscriber; a fresh
// event still flows.
func TestMaxEventAge(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.iimmpact["max_event_age"] = "15m"
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	old := product("REPLAYED", 1) // timestamped January 2024
	code, msg, err := g.sendIimmpact(iimmpactSecret, old.body())
	if err != nil || code != http.StatusOK || !strings.Contains(msg, `"stale":1`) {
		t.Fatalf("stale event: got %d %q (%v), want 200 with stale 1", code, msg, err)
	}
	fresh := product("FRESH", 2)
	fresh.Timestamp = time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000Z")
	g.mustAccept(fresh)
	r.waitSubjects(t, []string{"product/FRESH"}, 30*time.Second)
	if n := r.subjectCopies("product/REPLAYED"); n != 0 {
		t.Errorf("the stale event reached the subscriber %d times, want 0", n)
	}
	var page eventPage
	g.adminGet(t, "/admin/api/events?limit=500", &page)
	if len(page.Events) != 1 {
		t.Errorf("admin lists %d events, want 1: the stale one is not stored", len(page.Events))
	}
}
