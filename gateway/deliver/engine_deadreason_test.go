package deliver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// testDeadReasons: the reason a delivery died is decided by the retry
// policy and stored with it, for each way of dying, against a real
// subscriber answering as the case says.
func testDeadReasons(t *testing.T, bk backend) {
	tests := []struct {
		name     string
		status   int
		age      time.Duration // how long ago the event was received
		attempts int           // retry.max_attempts
		want     gateway.DeadReason
		wantN    int // attempts made
	}{
		{"4xx is permanent", http.StatusUnauthorized, 0, 10, gateway.DeadPermanent, 1},
		{"410 is gone", http.StatusGone, 0, 10, gateway.DeadGone, 1},
		{"5xx until max_attempts", http.StatusServiceUnavailable, 0, 3, gateway.DeadAttempts, 3},
		{"5xx past max_age", http.StatusBadGateway, 2 * time.Hour, 10, gateway.DeadMaxAge, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := bk.open(t)
			sk := newSink(t, func(request, int) (int, http.Header) { return tt.status, nil })
			ids := putEvents(t, st, 1, time.Now().Add(-tt.age), "a")
			cfg := testSub("a", sk.URL)
			cfg.Retry.MaxAttempts = tt.attempts
			cfg.Retry.MaxAge = time.Hour
			startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

			waitFor(t, "dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
			d := delivery(t, st, ids[0], "a")
			if d.DeadReason != tt.want || d.Attempts != tt.wantN || d.LastStatusCode != tt.status {
				t.Errorf("delivery dead after %d attempts, last %d, reason %q; want %d, %d, %q",
					d.Attempts, d.LastStatusCode, d.DeadReason, tt.wantN, tt.status, tt.want)
			}
			dl, err := st.Dead(context.Background(), "a", gateway.DeadFilter{Reason: tt.want})
			if err != nil {
				t.Fatal(err)
			}
			if len(dl) != 1 || dl[0].EventID != ids[0] || dl[0].DeadReason != tt.want ||
				dl[0].Type != "src.product.updated" || dl[0].Subject != "product/0" {
				t.Errorf("Dead(a, %s) = %+v; want %s, src.product.updated product/0", tt.want, dl, ids[0])
			}
		})
	}
}
