package redisstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// History entries as record.lua writes them: the layout from before the
// response excerpt still reads, and a malformed 'x' entry falls back to
// it rather than failing.
func TestParseAttempt(t *testing.T) {
	base := gateway.Attempt{N: 2, At: fromMS(1000), Duration: 5 * time.Millisecond, StatusCode: 401, Error: "HTTP 401"}
	with := func(a gateway.Attempt, f func(*gateway.Attempt)) gateway.Attempt { f(&a); return a }
	tests := []struct {
		in   string
		want gateway.Attempt
	}{
		{"2|1000|5000000|401|HTTP 401", base},
		{"r2|1000|5000000|401|HTTP 401", with(base, func(a *gateway.Attempt) { a.Redelivered = true })},
		{"2|1000|5000000|401|a|b", with(base, func(a *gateway.Attempt) { a.Error = "a|b" })},
		{"x2|1000|5000000|401|8|10|HTTP 401text/plainsig|bad", with(base, func(a *gateway.Attempt) {
			a.Response = &gateway.AttemptResponse{ContentType: "text/plain", Body: "sig|bad"}
		})},
		{"xr2|1000|5000000|401|8|0|HTTP 401", with(base, func(a *gateway.Attempt) {
			a.Redelivered = true
			a.Response = &gateway.AttemptResponse{}
		})},
	}
	for _, tc := range tests {
		if got := parseAttempt(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseAttempt(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if got := parseAttempt("x2|1000|5000000|401|99|0|short"); got.Response != nil {
		t.Errorf("parseAttempt of bad lengths: Response = %+v, want nil", got.Response)
	}
}
