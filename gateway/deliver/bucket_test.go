package deliver

import (
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestTokenBucket: a full bucket gives its burst at once, then tokens
// come at the rate; unused tokens go back up to the burst.
func TestTokenBucket(t *testing.T) {
	limit := gateway.RateLimit{Rate: 10, Burst: 5}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var b tokenBucket
	steps := []struct {
		at       time.Duration
		ask      int
		want     int
		wantWait time.Duration // when want < ask
	}{
		{0, 8, 5, 100 * time.Millisecond},
		{50 * time.Millisecond, 1, 0, 50 * time.Millisecond},
		{100 * time.Millisecond, 3, 1, 100 * time.Millisecond},
		{time.Second, 20, 5, 100 * time.Millisecond}, // refilled to the burst, not beyond
		{1250 * time.Millisecond, 2, 2, 0},
	}
	for i, st := range steps {
		took, wait := b.Take(t0.Add(st.at), limit, st.ask)
		if took != st.want || (took < st.ask && (wait-st.wantWait).Abs() > time.Millisecond) {
			t.Errorf("step %d: Take(%d) at +%v = %d, wait %v; want %d, wait %v", i, st.ask, st.at, took, wait, st.want, st.wantWait)
		}
	}
	b.Return(limit, 100)
	if took, _ := b.Take(t0.Add(1250*time.Millisecond), limit, 100); took != 5 {
		t.Errorf("after returning more than the burst, Take = %d, want the burst 5", took)
	}
}
