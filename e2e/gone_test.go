package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A 410 Gone (SPEC 5): the delivery is dead at once, and the subscriber is
// paused, paused_reason "gone", in every gateway sharing the store: no
// attempt reaches it afterwards until it is resumed, and the resume
// releases the rest, none of the wait counted as an attempt. On Redis the
// 410 is answered to one gateway and the admin API read from the other.
func TestGonePausesSubscriber(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		gone := newRecorder(t, "gone", 1)
		other := newRecorder(t, "other", 1)
		gone.answer(http.StatusGone)
		w.subscribe("gone", sub{rec: gone, maxInFlight: 1})
		w.subscribe("other", sub{rec: other})
		ingest := w.start()
		control := ingest
		if b.name == "redis" {
			control = w.start()
		}

		ingest.mustAccept(product("FIRST", 0))
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := control.subscribers(t)["gone"]
			if s.Paused && s.PausedReason == "gone" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gone after its 410: paused %v, paused_reason %q; want true, \"gone\"", s.Paused, s.PausedReason)
			}
			time.Sleep(50 * time.Millisecond)
		}
		id := ingest.eventID(t, "iimmpact.product.updated", "product/FIRST")
		if d, _ := control.event(t, id).deliveryTo("gone"); d.Status != "dead" || d.Attempts != 1 || d.LastStatusCode != http.StatusGone || d.DeadReason != "gone" {
			t.Errorf("the 410'd delivery: %s after %d attempts, last %d, reason %q; want dead after 1, 410, gone", d.Status, d.Attempts, d.LastStatusCode, d.DeadReason)
		}

		var subjects []string
		for i := range 4 {
			ingest.mustAccept(product(fmt.Sprintf("P%d", i), i+1))
			subjects = append(subjects, fmt.Sprintf("product/P%d", i))
		}
		other.waitSubjects(t, subjects, 30*time.Second)
		// Dispatchers poll at 200ms: watch for longer before judging.
		time.Sleep(1500 * time.Millisecond)
		if n := gone.requestCount(); n != 1 {
			t.Fatalf("gone got %d requests after its 410, want none", n-1)
		}

		if code, err := control.adminDo(http.MethodPost, "/admin/api/subscribers/gone/resume", nil); err != nil || code != http.StatusOK {
			t.Fatalf("resume: got %s, want 200", statusDetail(code, err))
		}
		gone.waitSubjects(t, subjects, 30*time.Second)
		if s := control.subscribers(t)["gone"]; s.Paused || s.PausedReason != "" {
			t.Errorf("after resume: paused %v, paused_reason %q; want false, \"\"", s.Paused, s.PausedReason)
		}
		for _, s := range subjects {
			d, _ := ingest.event(t, ingest.eventID(t, "iimmpact.product.updated", s)).deliveryTo("gone")
			if d.Status != "delivered" || d.Attempts != 1 {
				t.Errorf("%s to gone: %s after %d attempts, want delivered after 1", s, d.Status, d.Attempts)
			}
		}
		if d, _ := control.event(t, id).deliveryTo("gone"); d.Status != "dead" {
			t.Errorf("the 410'd delivery after resume: %s, want dead (redelivered only when asked)", d.Status)
		}
	})
}
