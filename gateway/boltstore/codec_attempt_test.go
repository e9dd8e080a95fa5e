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

// Delivery records written before dead reasons (with and without the
// ordering flags) decode with none; new ones round-trip, flags or not.
func TestDeliveryCodecDeadReason(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	base := deliveryRec{Status: gateway.StatusDead, Attempts: 2, CreatedAt: at, LastCode: 401, LastError: "HTTP 401",
		DeadAt: at.Add(time.Second), HistSeq: 2}
	old := func(flags uint64) []byte { // the layout before reasons
		e := newEncoder(64)
		e.str(string(base.Status))
		e.uint(uint64(base.Attempts))
		e.time(base.CreatedAt)
		e.time(time.Time{})
		e.time(time.Time{})
		e.str("")
		e.int(int64(base.LastCode))
		e.str(base.LastError)
		e.time(base.DeadAt)
		e.uint(uint64(base.HistSeq))
		if flags != 0 {
			e.uint(flags)
		}
		return e.b
	}
	with := func(f func(*deliveryRec)) deliveryRec { r := base; f(&r); return r }
	ordered := with(func(r *deliveryRec) { r.Ordered = true })
	permanent := with(func(r *deliveryRec) { r.DeadReason = gateway.DeadPermanent })
	orderedGone := with(func(r *deliveryRec) { r.Ordered, r.DeadReason = true, gateway.DeadGone })
	tests := []struct {
		name string
		in   []byte
		want deliveryRec
	}{
		{"old", old(0), base},
		{"old ordered", old(flagOrdered), ordered},
		{"reason", permanent.encode(), permanent},
		{"reason ordered", orderedGone.encode(), orderedGone},
		{"none", base.encode(), base},
	}
	for _, tc := range tests {
		got, err := decodeDelivery(tc.in)
		if err != nil {
			t.Errorf("%s: decode: %v", tc.name, err)
			continue
		}
		got.CreatedAt, got.DeadAt = got.CreatedAt.UTC(), got.DeadAt.UTC()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got := base.encode(); string(got) != string(old(0)) {
		t.Errorf("a record without a reason is written as before reasons: got %x, want %x", got, old(0))
	}
}
