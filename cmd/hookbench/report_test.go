package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// Every throughput figure is divided by the floor's req/s, whatever order
// the runs arrive in, and the text report shows each ratio.
func TestReportRatiosToFloor(t *testing.T) {
	zero := 0
	load := func(accepted, events int) *loadgen.LoadResult {
		return &loadgen.LoadResult{Sent: accepted, Accepted: accepted, AcceptedEvents: events, Elapsed: time.Second}
	}
	floor := &runResult{Run: runFloor, Store: "redis", Load: load(40000, 40000), ExitCode: &zero}
	held := &runResult{Run: runHeld, Store: "embedded", Subscribers: 1, Load: load(10000, 20000), ExitCode: &zero}
	drain := &runResult{Run: runDrain, Store: "embedded", Subscribers: 1, Backlog: 20000, Deliveries: 20000, DeliverySpan: 2 * time.Second, ExitCode: &zero}
	fanout := &runResult{Run: runFanout, Store: "redis", Subscribers: 10, Load: load(20000, 20000), Deliveries: 200000, DeliverySpan: 4 * time.Second,
		E2E: &loadgen.Summary{Count: 1, P50: time.Millisecond, P99: time.Millisecond, Max: time.Millisecond}, ExitCode: &zero, PeakRSS: 150 << 20}
	for _, r := range []*runResult{floor, held, drain, fanout} {
		r.finish()
	}

	rep := newReport(options{Requests: 20000, Concurrency: 64, VerifyEvery: 64})
	rep.add(held) // before the floor is known: no ratio yet
	if held.IngestRatio != 0 {
		t.Errorf("held ratio %v before the floor, want 0", held.IngestRatio)
	}
	rep.add(floor, drain, fanout)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"floor", floor.IngestRatio, 1},
		{"held ingest (events/s)", held.IngestRatio, 0.5},
		{"held delivers nothing", held.DeliveryRatio, 0},
		{"drain deliveries", drain.DeliveryRatio, 0.25},
		{"drain ingests nothing", drain.IngestRatio, 0},
		{"fanout deliveries", fanout.DeliveryRatio, 1.25},
		{"fanout ingest", fanout.IngestRatio, 0.5},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: ratio %v, want %v", tt.name, tt.got, tt.want)
		}
	}

	var text bytes.Buffer
	if err := rep.writeText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"40000 req/s", "0.50×", "0.25×", "1.25×", "150 MB", "PASS"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Floor float64 `json:"floor_req_per_s"`
		Runs  []struct {
			Run      string  `json:"run"`
			Delivery float64 `json:"deliveries_to_floor"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Floor != 40000 || len(back.Runs) != 4 || back.Runs[3].Delivery != 1.25 {
		t.Errorf("JSON report = %+v (%v), want the floor and 4 runs, fanout at 1.25", back, err)
	}
}

// A failing run turns into a FAIL line naming it.
func TestReportFailures(t *testing.T) {
	zero := 0
	r := &runResult{Run: runSustained, Store: "redis", Load: &loadgen.LoadResult{Accepted: 1, AcceptedEvents: 1, Elapsed: time.Second},
		ExitCode: &zero, Sinks: []loadgen.SinkCounts{{Lost: 3}}}
	r.finish()
	rep := newReport(options{VerifyEvery: 1})
	rep.add(r)
	var text bytes.Buffer
	if err := rep.writeText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "FAIL: sustained/redis: 3 accepted event deliveries never arrived") {
		t.Errorf("no FAIL line for the lost events:\n%s", text.String())
	}
}
