package boltstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// History entries written before the response excerpt (with and without
// the redelivered mark) still decode, and new ones round-trip.
func TestAttemptCodec(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	old := func(redelivered bool) []byte { // the layout before responses
		e := newEncoder(32)
		e.uint(3)
		e.time(at)
		e.dur(time.Second)
		e.int(503)
		e.str("HTTP 503")
		if redelivered {
			e.uint(1)
		}
		return e.b
	}
	base := gateway.Attempt{N: 3, At: at, Duration: time.Second, StatusCode: 503, Error: "HTTP 503"}
	withResp := base
	withResp.Response = &gateway.AttemptResponse{ContentType: "text/plain", Body: "busy"}
	redelivered := base
	redelivered.Redelivered = true
	both := withResp
	both.Redelivered = true
	tests := []struct {
		name string
		in   []byte
		want gateway.Attempt
	}{
		{"old", old(false), base},
		{"old redelivered", old(true), redelivered},
		{"response", encodeAttempt(withResp), withResp},
		{"response redelivered", encodeAttempt(both), both},
		{"none", encodeAttempt(base), base},
	}
	for _, tc := range tests {
		got, err := decodeAttempt(tc.in)
		if err != nil {
			t.Errorf("%s: decode: %v", tc.name, err)
			continue
		}
		got.At = got.At.UTC()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
