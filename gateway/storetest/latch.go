package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// testSwapState: SwapState returns what the key held before ("" when
// never set), keys are independent, and of many callers swapping the
// same value at once exactly one sees the state change (the gateway's own
// events are raised once per transition on that).
func testSwapState(t *testing.T, h harness) {
	s, ok := h.store(t).(gateway.Latcher)
	if !ok {
		t.Fatalf("the store does not implement gateway.Latcher")
	}
	ctx := context.Background()
	steps := []struct{ key, value, wantPrev string }{
		{"breaker/a", "open", ""},
		{"breaker/a", "open", "open"},
		{"breaker/b", "open", ""},
		{"breaker/a", "closed", "open"},
		{"pause/a", "paused", ""},
		{"breaker/a", "open", "closed"},
	}
	for i, st := range steps {
		prev, err := s.SwapState(ctx, st.key, st.value)
		if err != nil || prev != st.wantPrev {
			t.Fatalf("step %d: SwapState(%s, %s) = %q, %v; want %q", i, st.key, st.value, prev, err, st.wantPrev)
		}
	}

	const callers = 16
	for round, value := range []string{"paused", "resumed", "paused"} {
		var wg sync.WaitGroup
		changed := make(chan string, callers)
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prev, err := s.SwapState(ctx, "pause/c", value)
				if err != nil {
					t.Errorf("SwapState: %v", err)
					return
				}
				if prev != value {
					changed <- prev
				}
			}()
		}
		wg.Wait()
		close(changed)
		var seen []string
		for p := range changed {
			seen = append(seen, p)
		}
		if len(seen) != 1 {
			t.Errorf("round %d (%s): %d callers saw the state change (from %v), want 1", round, value, len(seen), fmt.Sprint(seen))
		}
	}
}
