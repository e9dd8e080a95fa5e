package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashEvents is how many events a crash test sends;
// HOOKGATE_E2E_CRASH_EVENTS overrides it.
func crashEvents(t *testing.T) int {
	if s := os.Getenv("HOOKGATE_E2E_CRASH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("HOOKGATE_E2E_CRASH_EVENTS=%q: want a number >= 10", s)
		}
		return n
	}
	return 10000
}

// sendAll sends n distinct product events from concurrent senders, the
// i-th to targets[i%len(targets)], and reports which were answered 200.
// A request that fails or gets another answer is not retried: only what
// the gateway acknowledged is owed. progress counts the answers so far.
func sendAll(n int, targets []*gateway, progress *atomic.Int64) []bool {
	const senders = 16
	accepted := make([]bool, n)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ev := product(crashID(i), i)
				code, _, err := targets[i%len(targets)].sendIimmpact(iimmpactSecret, ev.body())
				if err == nil && code == http.StatusOK {
					accepted[i] = true
					progress.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return accepted
}

func crashID(i int) string { return fmt.Sprintf("CR%05d", i) }

// A gateway killed while thousands of events are being sent loses none it
// acknowledged: once the store is served again (a restarted gateway on the
// embedded store; the surviving gateway on a shared Redis) every accepted
// event reaches every subscriber.
func TestCrashLosesNothingAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		backend  backend
		gateways int
	}{
		{"embedded, restarted", embedded, 1},
		{"redis, two gateways, one killed", redisBackend, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := crashEvents(t)
			w := newWorld(t, tc.backend)
			a := newRecorder(t, "a", 1)
			p := newRecorder(t, "products", 1)
			// A short timeout keeps the leases short (2*timeout + 10s): the
			// killed gateway's claims come back to the others within them.
			w.subscribe("a", sub{rec: a, timeout: "2s"})
			w.subscribe("products", sub{rec: p, timeout: "2s", events: []string{"iimmpact.product.*"}})
			gws := make([]*gateway, tc.gateways)
			for i := range gws {
				gws[i] = w.start()
			}
			victim := gws[len(gws)-1]

			var progress atomic.Int64
			done := make(chan []bool, 1)
			go func() { done <- sendAll(n, gws, &progress) }()
			// Kill a quarter of the way through, while requests are in flight.
			killAt := int64(n / 4)
			waitFor(t, 120*time.Second, fmt.Sprintf("%d events accepted before the kill", killAt), func() (bool, string) {
				return progress.Load() >= killAt, fmt.Sprintf("%d accepted", progress.Load())
			})
			victim.kill()
			t.Logf("killed %s after %d accepted", victim.name, progress.Load())
			if tc.gateways == 1 {
				// The senders go on; those that reach the restarted gateway count.
				victim.start()
			}
			accepted := <-done

			var subjects []string
			for i, ok := range accepted {
				if ok {
					subjects = append(subjects, "product/"+crashID(i))
				}
			}
			t.Logf("sent %d, accepted %d", n, len(subjects))
			if len(subjects) <= int(killAt) {
				t.Fatalf("accepted %d, want more than the %d before the kill: the senders saw too little", len(subjects), killAt)
			}
			for _, r := range []*recorder{a, p} {
				r.waitSubjects(t, subjects, 120*time.Second)
				got, dup := r.counts()
				t.Logf("subscriber %s: delivered %d distinct, %d duplicates, %d requests", r.name, got, dup, r.requestCount())
				if got > n {
					t.Errorf("subscriber %s: %d distinct events, more than the %d sent", r.name, got, n)
				}
			}
		})
	}
}
