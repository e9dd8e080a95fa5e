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
			name       string
			script     []int
			wantStatus string
			wantCodes  []int
		}{
			{"503 503 200", []int{503, 503, 200}, "delivered", []int{503, 503, 200}},
			{"400", []int{400}, "dead", []int{400}},
		}
		w := newWorld(t, b)
		recs := make([]*recorder, len(tests))
		for i, tc := range tests {
			name := fmt.Sprintf("sub%d", i)
			recs[i] = newRecorder(t, name, 1)
			recs[i].answer(tc.script...)
			w.subscribe(name, sub{rec: recs[i], retry: map[string]any{
				"initial_backoff": "50ms", "max_backoff": "200ms", "max_attempts": 5,
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
			if got := codes(dl.History); !reflect.DeepEqual(got, tc.wantCodes) {
				t.Errorf("%s: history status codes got %v, want %v", tc.name, got, tc.wantCodes)
			}
			for j, a := range dl.History {
				if a.Attempt != j+1 || a.At.IsZero() {
					t.Errorf("%s: history[%d] = attempt %d at %v, want attempt %d with a time", tc.name, j, a.Attempt, a.At, j+1)
				}
			}
			if dl.LastStatusCode != tc.wantCodes[len(tc.wantCodes)-1] {
				t.Errorf("%s: last_status_code got %d, want %d", tc.name, dl.LastStatusCode, tc.wantCodes[len(tc.wantCodes)-1])
			}
			if got := recs[i].answered(id); !reflect.DeepEqual(got, tc.wantCodes) {
				t.Errorf("%s: the subscriber answered %v, want %v", tc.name, got, tc.wantCodes)
			}
		}

		// The dead delivery is counted, and no more attempts follow: a later
		// event reaches the 400 subscriber (now answering 200) while the dead
		// one stays at one attempt.
		g.mustAccept(product("AFTER", 9))
		recs[1].waitN(t, 1, 30*time.Second)
		if got := recs[1].answered(id); len(got) != 1 {
			t.Errorf("dead delivery: the subscriber got %d requests for it, want 1: %v", len(got), got)
		}
		subs := g.subscribers(t)
		if s := subs["sub1"]; s.Dead != 1 {
			t.Errorf("GET /admin/api/subscribers sub1: dead got %d, want 1", s.Dead)
		}
		if s := subs["sub0"]; s.Dead != 0 {
			t.Errorf("GET /admin/api/subscribers sub0: dead got %d, want 0", s.Dead)
		}
	})
}
