package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Pause is exact (SPEC 5): once the admin API has answered, no attempt
// reaches the subscriber, from any gateway sharing the store, however the
// events arrive; resume delivers all of it, none of the wait counted as an
// attempt. On Redis the pause goes to one gateway and the events to the
// other.
func TestPauseIsExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		held := newRecorder(t, "held", 1)
		other := newRecorder(t, "other", 1)
		w.subscribe("held", sub{rec: held})
		w.subscribe("other", sub{rec: other})
		ingest := w.start()
		control := ingest
		if b.name == "redis" {
			control = w.start()
		}
		// Both dispatchers have read "not paused" and are busy.
		ingest.mustAccept(product("WARM", 0))
		held.waitSubjects(t, []string{"product/WARM"}, 30*time.Second)

		if code, err := control.adminDo(http.MethodPost, "/admin/api/subscribers/held/pause", nil); err != nil || code != http.StatusOK {
			t.Fatalf("pause: got %s, want 200", statusDetail(code, err))
		}
		var subjects []string
		for i := range 6 {
			ingest.mustAccept(product(fmt.Sprintf("P%d", i), i+1))
			subjects = append(subjects, fmt.Sprintf("product/P%d", i))
		}
		// The other subscriber has them all: the events went out.
		other.waitSubjects(t, subjects, 30*time.Second)
		// Dispatchers poll at 200ms and used to trust a paused flag for a
		// second: watch for longer than both before judging.
		time.Sleep(1500 * time.Millisecond)
		if n := held.requestCount(); n != 1 {
			t.Fatalf("paused subscriber got %d requests after the pause, want none", n-1)
		}

		if code, err := control.adminDo(http.MethodPost, "/admin/api/subscribers/held/resume", nil); err != nil || code != http.StatusOK {
			t.Fatalf("resume: got %s, want 200", statusDetail(code, err))
		}
		held.waitSubjects(t, subjects, 30*time.Second)
		for _, s := range subjects {
			// The subscriber has it; its record may still be on the way to
			// the store.
			id := ingest.eventID(t, "iimmpact.product.updated", s)
			if d := ingest.waitDelivery(t, id, "held", "delivered"); d.Attempts != 1 {
				t.Errorf("%s to held: delivered after %d attempts, want 1", s, d.Attempts)
			}
		}
	})
}
