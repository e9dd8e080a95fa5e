package e2e

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// A subscriber's answers decide the delivery: 5xx is retried until a 2xx,
// other 4xx make it dead at once. The admin API shows every attempt.
func TestRetryAndDead(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		tests := []struct {
			name        string
			script      []int
			maxAttempts int
			wantStatus  string
			wantCodes   []int
			wantReason  string // dead_reason
		}{
			{"503 503 200", []int{503, 503, 200}, 5, "delivered", []int{503, 503, 200}, ""},
			{"400", []int{400}, 5, "dead", []int{400}, "permanent"},
			{"408 429 302 are retried, the redirect not followed", []int{408, 429, 302}, 5, "delivered", []int{408, 429, 302, 200}, ""},
			{"500 until max_attempts", []int{500, 500, 500}, 3, "dead", []int{500, 500, 500}, "attempts"},
		}
		w := newWorld(t, b)
		recs := make([]*recorder, len(tests))
		for i, tc := range tests {
			name := fmt.Sprintf("sub%d", i)
			recs[i] = newRecorder(t, name, 1)
			recs[i].answer(tc.script...)
			w.subscribe(name, sub{rec: recs[i], retry: map[string]any{
				"initial_backoff": "50ms", "max_backoff": "200ms", "max_attempts": tc.maxAttempts,
			}})
		}
		g := w.start()
		g.mustAccept(product("RETRY", 8))
		id := g.eventID(t, "iimmpact.product.updated", "product/RETRY")

		for i, tc := range tests {
			name := fmt.Sprintf("sub%d", i)
			dl := g.waitDelivery(t, id, name, tc.wantStatus)
			if dl.Attempts != len(tc.wantCodes) {
				t.Errorf("%s: attempts got %d, want %d", tc.name, dl.Attempts, len(tc.wantCodes))
			}
			if dl.DeadReason != tc.wantReason {
				t.Errorf("%s: dead_reason got %q, want %q", tc.name, dl.DeadReason, tc.wantReason)
			}
			if got := codes(dl.History); !reflect.DeepEqual(got, tc.wantCodes) {
				t.Errorf("%s: history status codes got %v, want %v", tc.name, got, tc.wantCodes)
			}
			for j, a := range dl.History {
				if a.Attempt != j+1 || a.At.IsZero() {
					t.Errorf("%s: history[%d] = attempt %d at %v, want attempt %d with a time", tc.name, j, a.Attempt, a.At, j+1)
				}
				// A real request over loopback takes microseconds, not 0.
				if a.DurationMS <= 0 {
					t.Errorf("%s: history[%d] duration_ms = %v, want the request's measured time", tc.name, j, a.DurationMS)
				}
			}
			if dl.LastStatusCode != tc.wantCodes[len(tc.wantCodes)-1] {
				t.Errorf("%s: last_status_code got %d, want %d", tc.name, dl.LastStatusCode, tc.wantCodes[len(tc.wantCodes)-1])
			}
			if got := recs[i].answered(id); !reflect.DeepEqual(got, tc.wantCodes) {
				t.Errorf("%s: the subscriber answered %v, want %v", tc.name, got, tc.wantCodes)
			}
		}

		// Dead deliveries are counted, and no more attempts follow: a later
		// event reaches every subscriber (now answering 200) while the dead
		// ones keep their attempts.
		g.mustAccept(product("AFTER", 9))
		subs := g.subscribers(t)
		for i, tc := range tests {
			name := fmt.Sprintf("sub%d", i)
			recs[i].waitN(t, 1, 30*time.Second)
			if got := recs[i].answered(id); !reflect.DeepEqual(got, tc.wantCodes) {
				t.Errorf("%s, after a later event: the subscriber answered %v for the first, want %v", tc.name, got, tc.wantCodes)
			}
			wantDead := int64(0)
			if tc.wantStatus == "dead" {
				wantDead = 1
			}
			if s := subs[name]; s.Dead != wantDead {
				t.Errorf("%s: GET /admin/api/subscribers dead got %d, want %d", tc.name, s.Dead, wantDead)
			}
		}
	})
}
