// Package storetest is the conformance suite for gateway.Store: every
// backend's test file calls Run with a function that opens a fresh, empty
// store, and the suite checks the contract written on the Store interface,
// nothing backend-specific.
//
// Time is injected: the suite passes times (from a base of 2030-01-01 UTC,
// always whole milliseconds) and never sleeps, so a store must judge leases,
// the dedupe window and retention by the times it is given, not by the wall
// clock.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Config values the suite opens stores with.
const (
	Retention    = 24 * time.Hour
	DedupeWindow = time.Hour
	// TombstoneWindow is set only for the tests of tombstones (Tombstones):
	// the others run without, as a store opened without the key does.
	TombstoneWindow = 48 * time.Hour
)

// lease is what the claim helpers lease for: longer than any test's span
// of injected time, so that only the lease tests see one run out.
const lease = 6 * time.Hour

// base is far from the wall clock on purpose: a store that consults
// time.Now instead of the times passed in fails the suite.
var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Run runs the conformance suite. open must return a fresh, empty store
// configured with cfg (Retention and DedupeWindow are set by the suite;
// the opener adds what its backend needs, such as a path or a URL). The
// suite closes every store it opens.
func Run(t *testing.T, open func(t *testing.T, cfg gateway.StoreConfig) gateway.Store) {
	h := harness{open: open}
	tests := []struct {
		name string
		fn   func(t *testing.T, h harness)
	}{
		{"PutRoundTrip", testPutRoundTrip},
		{"PutUnrouted", testPutUnrouted},
		{"Dedupe", testDedupe},
		{"Tombstones", testTombstones},
		{"TombstonesOff", testTombstonesOff},
		{"Claim", testClaim},
		{"ClaimLease", testClaimLease},
		{"Record", testRecord},
		{"RecordTwice", testRecordTwice},
		{"RecordResponse", testRecordResponse},
		{"Stats", testStats},
		{"Dead", testDead},
		{"DeadReason", testDeadReason},
		{"DeadReasonFilter", testDeadReasonFilter},
		{"DeadReasonRedeliver", testDeadReasonRedeliver},
		{"DeadReasonInvalid", testDeadReasonInvalid},
		{"Release", testRelease},
		{"Redeliver", testRedeliver},
		{"RedeliverUnrouted", testRedeliverUnrouted},
		{"RedeliverNumbering", testRedeliverNumbering},
		{"Ordering", testOrdering},
		{"OrderingNoSubject", testOrderingNoSubject},
		{"OrderingManual", testOrderingManual},
		{"OrderingRequeue", testOrderingRequeue},
		{"OrderingEdges", testOrderingEdges},
		{"OrderingLongSubject", testOrderingLongSubject},
		{"RedeliverLeased", testRedeliverLeased},
		{"RedeliverDead", testRedeliverDead},
		{"RequeueWindow", testRequeueWindow}, {"RequeueOrder", testRequeueOrder}, {"RequeueAccept", testRequeueAccept},
		{"RequeueExisting", testRequeueExisting}, {"RequeuePaging", testRequeuePaging}, {"RequeueEmpty", testRequeueEmpty},
		{"MarkSubscribers", testMarkSubscribers},
		{"Paused", testPaused},
		{"ClaimPaused", testClaimPaused},
		{"SwapState", testSwapState},
		{"Subscribers", testSubscribers},
		{"Purge", testPurge},
		{"PurgeLarge", testPurgeLarge},
		{"ListFilters", testListFilters},
		{"ListPagination", testListPagination},
		{"ListLimit", testListLimit},
		{"ListBadCursor", testListBadCursor},
		{"ListSelective", testListSelective},
		{"ListMatch", testListMatch},
		{"ListMatchBytes", testListMatchBytes},
		{"Sweep", testSweep},
		{"ConcurrentPut", testConcurrentPut},
		{"ConcurrentPutSameID", testConcurrentPutSameID},
		{"NotFound", testNotFound},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

type harness struct {
	open func(t *testing.T, cfg gateway.StoreConfig) gateway.Store
}

// store opens a fresh store with the suite's config and closes it when t
// ends.
func (h harness) store(t *testing.T) gateway.Store {
	t.Helper()
	return h.storeWith(t, gateway.StoreConfig{Retention: Retention, DedupeWindow: DedupeWindow})
}

// storeWith is store with another config.
func (h harness) storeWith(t *testing.T, cfg gateway.StoreConfig) gateway.Store {
	t.Helper()
	s := h.open(t, cfg)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// at is the suite's clock: base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// body is an envelope-like document with uneven spacing, so that a store
// that re-encodes instead of keeping the exact bytes is caught.
func body(id string) []byte {
	return fmt.Appendf(nil, "{\"id\":%q,  \"data\": {\"n\": 1.50, \"s\":\"\u00e9\\u00e9\"}}\n", id)
}

// newEvent builds an event of the given source and type, received at recv,
// routed to subs.
func newEvent(id, source, typ string, recv time.Time, subs ...string) gateway.NewEvent {
	return gateway.NewEvent{
		Envelope: gateway.Envelope{
			SpecVersion: gateway.SpecVersion,
			ID:          id,
			Source:      source,
			Type:        typ,
			Subject:     "product/" + id,
			Time:        recv,
		},
		Body:        body(id),
		ReceivedAt:  recv,
		Subscribers: subs,
	}
}

func put(t *testing.T, s gateway.Store, evs ...gateway.NewEvent) []gateway.PutResult {
	t.Helper()
	res, err := s.Put(context.Background(), evs)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if len(res) != len(evs) {
		t.Fatalf("Put returned %d results for %d events", len(res), len(evs))
	}
	return res
}

func claim(t *testing.T, s gateway.Store, sub string, now time.Time, max int) []gateway.Claim {
	t.Helper()
	cs, err := s.Claim(context.Background(), sub, now, max, lease)
	if err != nil {
		t.Fatalf("Claim(%s): %v", sub, err)
	}
	return cs
}

// claimOne claims sub's single due delivery and fails unless there is
// exactly one.
func claimOne(t *testing.T, s gateway.Store, sub string, now time.Time) gateway.Claim {
	t.Helper()
	cs := claim(t, s, sub, now, 10)
	if len(cs) != 1 {
		t.Fatalf("Claim(%s, %v) got %d claims, want 1", sub, now, len(cs))
	}
	return cs[0]
}

func record(t *testing.T, s gateway.Store, c gateway.Claim, o gateway.Outcome) {
	t.Helper()
	if err := s.Record(context.Background(), c, o); err != nil {
		t.Fatalf("Record(%s/%s): %v", c.EventID, c.Subscriber, err)
	}
}

// Outcomes the tests record.
func delivered(when time.Time) gateway.Outcome {
	return gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: when, Duration: 120 * time.Millisecond, StatusCode: 200}}
}

func retrying(when, next time.Time, msg string) gateway.Outcome {
	return gateway.Outcome{Status: gateway.StatusRetrying, NextAttemptAt: next,
		Attempt: gateway.Attempt{At: when, Duration: 1500 * time.Millisecond, StatusCode: 503, Error: msg}}
}

func dead(when time.Time, msg string) gateway.Outcome {
	return gateway.Outcome{Status: gateway.StatusDead,
		Attempt: gateway.Attempt{At: when, Duration: 7 * time.Millisecond, StatusCode: 400, Error: msg}}
}

func getEvent(t *testing.T, s gateway.Store, id string) gateway.EventRecord {
	t.Helper()
	rec, err := s.Event(context.Background(), id)
	if err != nil {
		t.Fatalf("Event(%s): %v", id, err)
	}
	return rec
}

// delivery returns the event's delivery to sub.
func delivery(t *testing.T, s gateway.Store, id, sub string) gateway.DeliveryRecord {
	t.Helper()
	for _, d := range getEvent(t, s, id).Deliveries {
		if d.Subscriber == sub {
			return d
		}
	}
	t.Fatalf("Event(%s) has no delivery to %s", id, sub)
	return gateway.DeliveryRecord{}
}

func stats(t *testing.T, s gateway.Store, sub string) gateway.SubscriberStats {
	t.Helper()
	st, err := s.Stats(context.Background(), sub)
	if err != nil {
		t.Fatalf("Stats(%s): %v", sub, err)
	}
	return st
}

// wantErr fails unless err wraps want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// timePtrEqual compares an optional time with a wanted one; want zero
// means "nil".
func timePtrEqual(got *time.Time, want time.Time) bool {
	if want.IsZero() {
		return got == nil
	}
	return got != nil && got.Equal(want)
}

func fmtTimePtr(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.UTC().Format(time.RFC3339Nano)
}
