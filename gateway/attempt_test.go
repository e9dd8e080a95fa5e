package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// duration_ms is milliseconds to the microsecond: a fast subscriber's
// attempt does not show as 0.
func TestAttemptDurationMS(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{420 * time.Microsecond, `"duration_ms":0.42`},
		{1500 * time.Millisecond, `"duration_ms":1500`},
		{1234567 * time.Nanosecond, `"duration_ms":1.234`},
		{0, `"duration_ms":0`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(gateway.Attempt{N: 1, Duration: tc.d, StatusCode: 200})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("Attempt with Duration %v = %s, want %s in it", tc.d, b, tc.want)
		}
	}
}
