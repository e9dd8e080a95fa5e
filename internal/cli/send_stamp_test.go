package cli

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookgate/hookgate/plugins/iimmpact"
)

// TestStampSamples: with max_event_age, send gives an IIMMPACT sample the
// current time rounded down to a grain of at most half of it, so that the
// gateway takes it for fresh and a second send within the grain for the
// same event; without, and for bodies from files, it sends them as they
// are.
func TestStampSamples(t *testing.T) {
	sample, err := iimmpact.Provider{}.Sample("product.updated")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 5, 6, 10, 41, 7, 0, time.UTC)
	tests := []struct {
		name   string
		maxAge time.Duration
		file   bool
		want   string // the body's timestamp
	}{
		{"off", 0, false, "2024-01-15T10:30:00.000Z"},
		{"1h: the quarter hour", time.Hour, false, "2030-05-06T10:30:00.000Z"},
		{"15m: half of it", 15 * time.Minute, false, "2030-05-06T10:37:30.000Z"},
		{"a file is sent as it is", time.Hour, true, "2024-01-15T10:30:00.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := []sendRequest{{label: "product.updated", body: sample, sample: !tt.file}}
			if err := stampSamples(reqs, iimmpact.Provider{}, tt.maxAge, now); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(reqs[0].body, &got); err != nil {
				t.Fatalf("stamped body is not JSON: %v\n%s", err, reqs[0].body)
			}
			if got["timestamp"] != tt.want {
				t.Errorf("timestamp = %v, want %s", got["timestamp"], tt.want)
			}
			if got["id"] != "CELCOM10" || got["data"] == nil {
				t.Errorf("stamped body lost its other fields: %s", reqs[0].body)
			}
		})
	}
}
