package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// orderSub is a subscriber that checks ordering: subject. Per subject it
// records the versions (data.object.n) it answered 2xx, in arrival order,
// and counts a request that came while another of the same subject was
// being answered. It fails the first attempt of every third version.
type orderSub struct {
	srv *httptest.Server

	mu       sync.Mutex
	busy     map[string]bool
	overlaps []string
	seen     map[string]int   // webhook-id -> requests
	got      map[string][]int // subject -> versions answered 2xx, in order
}

func newOrderSub(t *testing.T) *orderSub {
	o := &orderSub{busy: map[string]bool{}, seen: map[string]int{}, got: map[string][]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *orderSub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var env struct {
		Subject string `json:"subject"`
		Data    struct {
			Object struct {
				N int `json:"n"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id, subj, n := r.Header.Get("webhook-id"), env.Subject, env.Data.Object.N
	o.mu.Lock()
	if o.busy[subj] {
		o.overlaps = append(o.overlaps, fmt.Sprintf("%s v%d", subj, n))
	}
	o.busy[subj] = true
	o.seen[id]++
	first := o.seen[id] == 1
	o.mu.Unlock()

	// Long enough that a second request of the subject would overlap.
	select {
	case <-time.After(3 * time.Millisecond):
	case <-r.Context().Done():
	}
	code := http.StatusOK
	if first && n%3 == 0 {
		code = http.StatusServiceUnavailable
	}
	o.mu.Lock()
	o.busy[subj] = false
	if code == http.StatusOK {
		o.got[subj] = append(o.got[subj], n)
	}
	o.mu.Unlock()
	w.WriteHeader(code)
}

// complete reports whether every subject got every version.
func (o *orderSub) complete(subjects []string, versions int) (bool, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range subjects {
		have := map[int]bool{}
		for _, n := range o.got[s] {
			have[n] = true
		}
		if len(have) < versions {
			return false, fmt.Sprintf("%s has %d of %d versions", s, len(have), versions)
		}
	}
	return true, ""
}

// TestOrderingPerSubject: 12 subjects × 8 versions, each subject's
// versions sent one after another and the subjects at once, to a
// subscriber with ordering: subject that fails the first attempt of a
// third of them. Each subject's versions arrive in order (a copy sent
// again after a crash may repeat the last one, never go back), never two
// of a subject at once, and all 96 arrive, though a gateway is killed
// mid-run and started again. On Redis two gateways share the work.
func TestOrderingPerSubject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const subjects, versions = 12, 8
		w := newWorld(t, b)
		o := newOrderSub(t)
		w.subscribers["ordered"] = map[string]any{
			"url": o.srv.URL, "secret": newSecret(t), "ordering": "subject", "max_in_flight": 8,
			// A short timeout keeps the killed gateway's leases short
			// (twice the timeout plus 10s).
			"timeout": "500ms", "retry": fastRetry,
			// The failures are the subscriber's script, not an outage.
			"breaker": map[string]any{"consecutive_failures": 100, "cooldown": "100ms"},
		}
		gws := []*gateway{w.start()}
		if b.name == redisBackend.name {
			gws = append(gws, w.start())
		}

		var names []string
		for s := range subjects {
			names = append(names, fmt.Sprintf("product/ORD%02d", s))
		}
		var sent atomic.Int64
		var wg sync.WaitGroup
		for s := range subjects {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("ORD%02d", s)
				for v := 1; v <= versions; v++ {
					body := product(id, v).body()
					// Until accepted: a gateway may be down (killed).
					for try := 0; ; try++ {
						g := gws[(s+v+try)%len(gws)]
						if code, _, err := g.sendIimmpact(iimmpactSecret, body); err == nil && code == http.StatusOK {
							break
						}
						if try > 2000 {
							t.Errorf("%s v%d never accepted", id, v)
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
					sent.Add(1)
				}
			}()
		}
		// Kill a gateway mid-run, then start it again on the same config.
		waitFor(t, 30*time.Second, "a third of the events accepted", func() (bool, string) {
			return sent.Load() >= subjects*versions/3, fmt.Sprintf("%d accepted", sent.Load())
		})
		gws[0].kill()
		gws[0].start()
		wg.Wait()

		waitFor(t, 90*time.Second, "every version of every subject", func() (bool, string) {
			return o.complete(names, versions)
		})
		o.mu.Lock()
		defer o.mu.Unlock()
		if len(o.overlaps) > 0 {
			t.Errorf("two deliveries of one subject at once: %s", strings.Join(o.overlaps, ", "))
		}
		for _, s := range names {
			got := o.got[s]
			for i := 1; i < len(got); i++ {
				if got[i] < got[i-1] {
					t.Errorf("%s: versions arrived as %v, want ascending (a repeat of the last allowed)", s, got)
					break
				}
			}
		}
	})
}
