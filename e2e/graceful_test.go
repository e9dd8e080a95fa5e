package e2e

import (
	"fmt"
	"testing"
	"time"
)

// SIGTERM while deliveries are in flight: the gateway exits 0, and after a
// restart on the same store everything it accepted is delivered.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		const events = 40
		w := newWorld(t, b)
		slow := newRecorder(t, "slow", 1)
		slow.setDelay(100 * time.Millisecond)
		w.subscribe("slow", sub{rec: slow, maxInFlight: 4})
		g := w.start()

		subjects := make([]string, events)
		for i := range events {
			g.mustAccept(product(fmt.Sprintf("GR%02d", i), 300+i))
			subjects[i] = fmt.Sprintf("product/GR%02d", i)
		}
		waitFor(t, 30*time.Second, "deliveries are in flight", func() (bool, string) {
			n := slow.requestCount()
			return n > 0, fmt.Sprintf("%d requests", n)
		})
		g.stop()
		before, _ := slow.counts()
		t.Logf("delivered before SIGTERM took effect: %d of %d", before, events)

		slow.setDelay(0)
		g.start()
		slow.waitSubjects(t, subjects, 30*time.Second)
		n, dup := slow.counts()
		t.Logf("delivered %d, duplicates %d", n, dup)
		g.stop()
	})
}
