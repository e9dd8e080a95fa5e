package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// These tests send what a broken or hostile upstream could sign: valid
// signatures over bodies no catalog would hold.

// An IIMMPACT product whose id is 40,000 characters, delivered to a
// subscriber with ordering: subject, is stored (200) and delivered with
// its whole subject, and a second event of that id waits its turn behind
// the first; a catalog360 batch of 100 with one such id is stored whole.
// (Before, the embedded store's line key went over bbolt's 32 KB: 503 for
// ever, the whole batch refused, logged as a store outage.)
func TestHostileSubjectHugeID(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		r := newRecorder(t, "ordered", 1)
		w.subscribe("ordered", sub{rec: r, extra: map[string]any{"ordering": "subject"}})
		g := w.start()

		huge := "P" + strings.Repeat("x", 40_000)
		for n := range 2 {
			if code, msg, err := g.sendIimmpact(iimmpactSecret, product(huge, n).body()); err != nil || code != http.StatusOK {
				t.Fatalf("product %d with a 40,000-character id: got %d %.200q (%v), want 200", n, code, msg, err)
			}
		}
		events := make([]c360Event, 100)
		subjects := []string{"product/" + huge}
		for i := range events {
			events[i] = assetItem("updated", i)
			if i == 37 {
				events[i].Payload["new"].(map[string]any)["id"] = "A" + strings.Repeat("y", 40_000)
			}
			subjects = append(subjects, "assetitem/"+events[i].Payload["new"].(map[string]any)["id"].(string))
		}
		if code, msg, err := g.sendC360(c360Key, c360Batch(events)); err != nil || code != http.StatusOK {
			t.Fatalf("catalog360 batch with one 40,000-character id: got %d %.200q (%v), want 200", code, msg, err)
		}
		r.waitSubjects(t, subjects, 60*time.Second)
		r.waitN(t, 102, 30*time.Second)
		if n := r.subjectCopies("product/" + huge); n < 2 {
			t.Errorf("product/<huge id>: %d envelopes, want both events", n)
		}
		if out := g.output(); strings.Contains(out, "unavailable") {
			t.Errorf("the gateway logged the store unavailable for a long id:\n%s", tail(out, 2000))
		}
	})
}
