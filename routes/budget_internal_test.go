package routes

import (
	"errors"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// A whole body waits for the processing budget that requests being stored
// will give back, and new large uploads leave what it waits for free;
// with nothing being stored it is refused at once.
func TestProcessingWaitsForStoredRequests(t *testing.T) {
	const kb = 1 << 10
	b := newByteBudget()
	lim := budgetLimits{total: 1000 * kb}
	newClaim := func() *claim { return &claim{b: b, lim: lim} }

	uploading := newClaim() // a body still arriving
	if err := uploading.takeBody(50 * kb); err != nil {
		t.Fatal(err)
	}
	alone := newClaim()
	if err := alone.takeBody(900 * kb); err != nil {
		t.Fatal(err)
	}
	if err := alone.takeProcessing(200*kb, time.Minute); !errors.Is(err, gateway.ErrOverloaded) {
		t.Fatalf("processing with nothing being stored: %v, want ErrOverloaded at once", err)
	}
	uploading.release()
	// Alone, a cost past the budget is charged as all that is left.
	if err := alone.takeProcessing(200*kb, time.Minute); err != nil {
		t.Fatalf("processing of a cost past the budget, alone: %v, want nil", err)
	}
	if got := b.Used(); got != 1000*kb {
		t.Errorf("used = %d, want the whole budget, %d", got, 1000*kb)
	}
	alone.release()

	stored := newClaim() // a request being stored
	if err := stored.takeBody(300 * kb); err != nil {
		t.Fatal(err)
	}
	if err := stored.takeProcessing(600*kb, 0); err != nil {
		t.Fatal(err)
	}
	whole := newClaim() // a request with its whole body
	if err := whole.takeBody(100 * kb); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- whole.takeProcessing(200*kb, time.Minute) }()
	for waiting := int64(0); waiting == 0; {
		time.Sleep(time.Millisecond)
		b.mu.Lock()
		waiting = b.waiting
		b.mu.Unlock()
	}
	stored.release() // 100KB held, 200KB waited for
	uploading = newClaim()
	if err := uploading.takeBody(750 * kb); !errors.Is(err, gateway.ErrOverloaded) {
		t.Errorf("a large upload into the bytes a whole body waits for: %v, want ErrOverloaded", err)
	}
	if err := <-done; err != nil {
		t.Errorf("processing once a stored request gave its budget back: %v, want nil", err)
	}
	if got := b.Used(); got != 300*kb {
		t.Errorf("used = %d, want %d", got, 300*kb)
	}
	whole.release()
	if got := b.Used(); got != 0 {
		t.Errorf("used after all released = %d, want 0", got)
	}
}
