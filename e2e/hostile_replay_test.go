package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Replays of captured signed requests (issue 19 item 6). An attacker who
// captured an authentic IIMMPACT request (a log, a proxy, a leaked
// capture) sends it again, byte for byte, signature and all: the gateway
// must acknowledge it (200, so that nothing looks amiss upstream) and fan
// nothing out. These run under the replay defences of the shipped
// config.yaml, read from it: max_event_age for iimmpact, and
// store.tombstone_window.

// shippedReplayKeys reads, from ../config.yaml, sources.iimmpact's
// max_event_age and store.tombstone_window, failing unless both are set.
func shippedReplayKeys(t *testing.T) (maxEventAge, tombstoneWindow string) {
	t.Helper()
	b, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Store struct {
			TombstoneWindow string `yaml:"tombstone_window"`
		} `yaml:"store"`
		Sources map[string]struct {
			MaxEventAge string `yaml:"max_event_age"`
		} `yaml:"sources"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	maxEventAge, tombstoneWindow = cfg.Sources["iimmpact"].MaxEventAge, cfg.Store.TombstoneWindow
	for key, v := range map[string]string{"sources.iimmpact.max_event_age": maxEventAge, "store.tombstone_window": tombstoneWindow} {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			t.Fatalf("config.yaml %s = %q, want a replay defence (a duration > 0)", key, v)
		}
	}
	return maxEventAge, tombstoneWindow
}

// A request captured hours ago (its IIMMPACT timestamp older than the
// shipped max_event_age) and replayed: 200, counted stale, not stored,
// not delivered; a fresh event still flows.
func TestHostileReplayOldTimestamp(t *testing.T) {
	t.Parallel()
	maxAge, tombs := shippedReplayKeys(t)
	w := newWorld(t, embedded)
	w.iimmpact["max_event_age"] = maxAge
	w.store["tombstone_window"] = tombs
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	captured := product("CAPTURED", 1)
	captured.Timestamp = time.Now().UTC().Add(-2 * time.Hour).Format("2006-01-02T15:04:05.000Z")
	body := captured.body()
	for i := range 3 {
		code, msg, err := g.sendIimmpact(iimmpactSecret, body)
		if err != nil || code != http.StatusOK || !strings.Contains(msg, `"stale":1`) {
			t.Fatalf("replay %d of a 2-hour-old request: got %d %q (%v), want 200 with stale 1", i+1, code, msg, err)
		}
	}
	fresh := product("FRESH", 2)
	fresh.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	g.mustAccept(fresh)
	r.waitSubjects(t, []string{"product/FRESH"}, 30*time.Second)
	if n := r.subjectCopies("product/CAPTURED"); n != 0 {
		t.Errorf("the replayed request reached the subscriber %d times, want 0", n)
	}
	var page eventPage
	g.adminGet(t, "/admin/api/events?limit=500", &page)
	if len(page.Events) != 1 {
		t.Errorf("admin lists %d events, want 1: the replay is not stored", len(page.Events))
	}
}

// A request whose timestamp max_event_age still takes for fresh, replayed
// after the event's dedupe window and retention have passed and Sweep has
// removed it: its tombstone recognizes it, so it is answered as a
// duplicate (200) and not stored or fanned out anew. On both stores.
func TestHostileReplayAfterRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		maxAge, tombs := shippedReplayKeys(t)
		w := newWorld(t, b)
		w.iimmpact["max_event_age"] = maxAge
		w.store["tombstone_window"] = tombs
		// Retention short enough to pass within the test; the gateway
		// sweeps when it starts.
		w.store["retention"] = "2s"
		w.store["dedupe_window"] = "1s"
		r := newRecorder(t, "all", 1)
		w.subscribe("all", sub{rec: r, retry: map[string]any{"max_age": "2s"}})
		g := w.start()

		captured := product("CAPTURED", 1)
		captured.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		body := captured.body()
		g.mustAccept(captured)
		r.waitSubjects(t, []string{"product/CAPTURED"}, 30*time.Second)
		id := g.eventID(t, "iimmpact.product.updated", "product/CAPTURED")
		g.waitDelivery(t, id, "all", "delivered")

		// Past retention, a restart sweeps: the event is removed.
		time.Sleep(2500 * time.Millisecond)
		g.stop()
		g.start()
		waitFor(t, 30*time.Second, "the event removed at retention", func() (bool, string) {
			code, err := g.adminDo(http.MethodGet, "/admin/api/events/"+id, nil)
			return err == nil && code == http.StatusNotFound, "still there"
		})

		code, msg, err := g.sendIimmpact(iimmpactSecret, body)
		if err != nil || code != http.StatusOK || !strings.Contains(msg, `"duplicates":1`) {
			t.Fatalf("replay after removal: got %d %q (%v), want 200 with duplicates 1", code, msg, err)
		}
		// A later event arrives; the replay before it did not.
		fresh := product("FRESH", 2)
		fresh.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		g.mustAccept(fresh)
		r.waitSubjects(t, []string{"product/FRESH"}, 30*time.Second)
		if n := r.subjectCopies("product/CAPTURED"); n != 1 {
			t.Errorf("the event reached the subscriber %d times, want 1: the replay was fanned out", n)
		}
		if code, err := g.adminDo(http.MethodGet, "/admin/api/events/"+id, nil); err != nil || code != http.StatusNotFound {
			t.Errorf("GET the replayed event: %d (%v), want 404: the replay is not stored", code, err)
		}
	})
}
