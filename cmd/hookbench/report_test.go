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

// Each gateway delivery run is divided by its relay counterpart as well as
// by the floor; without that counterpart its ×relay is "-". The text table
// has the ×relay column and JSON the new fields, the old ones unchanged.
func TestReportRatiosToRelay(t *testing.T) {
	zero := 0
	load := func(n int) *loadgen.LoadResult {
		return &loadgen.LoadResult{Sent: n, Accepted: n, AcceptedEvents: n, Elapsed: time.Second}
	}
	run := func(name string, subs, deliveries int, span time.Duration) *runResult {
		r := &runResult{Run: name, Store: "redis", Subscribers: subs, Load: load(deliveries / subs), Deliveries: int64(deliveries), DeliverySpan: span, ExitCode: &zero}
		if name == runDrain || name == runRelayDrain {
			r.Load, r.Backlog = nil, deliveries
		}
		r.finish()
		return r
	}
	floor := &runResult{Run: runFloor, Store: "redis", Load: load(20000), ExitCode: &zero}
	floor.finish()
	relayS := run(runRelaySustained, 1, 8000, time.Second)   // 8000/s
	relayF := run(runRelayFanout, 10, 100000, 5*time.Second) // 20000/s
	sustained := run(runSustained, 1, 6000, time.Second)     // 6000/s
	drain := run(runDrain, 1, 9000, time.Second)             // no relay-drain made
	fanout := run(runFanout, 10, 50000, 2*time.Second)       // 25000/s

	rep := newReport(options{Requests: 20000, Concurrency: 64, VerifyEvery: 64})
	rep.add(floor, relayS, relayF, sustained, drain, fanout)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"sustained to relay-sustained", sustained.RelayRatio, 0.75},
		{"fanout to relay-fanout", fanout.RelayRatio, 1.25},
		{"drain without relay-drain", drain.RelayRatio, 0},
		{"relay-sustained to itself", relayS.RelayRatio, 1},
		{"floor delivers nothing", floor.RelayRatio, 0},
		{"sustained still to the floor", sustained.DeliveryRatio, 0.3},
		{"relay-fanout to the floor", relayF.DeliveryRatio, 1},
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
	rows := map[string][]string{}
	var head []string
	for _, line := range strings.Split(text.String(), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "run" && head == nil {
			head = f
		}
		if len(f) > 1 && f[1] == "redis" && rows[f[0]] == nil {
			rows[f[0]] = f
		}
	}
	// Columns (one field each but for "peak RSS", after ×relay):
	// run store subs events ingest/s ×floor delivered/s ×floor ×relay
	if len(head) < 9 || head[8] != "×relay" {
		t.Fatalf("header %q, want ×relay as the 9th column:\n%s", head, text.String())
	}
	wantRelayCol := map[string]string{
		runFloor: "-", runRelaySustained: "1.00×", runRelayFanout: "1.00×",
		runSustained: "0.75×", runDrain: "-", runFanout: "1.25×",
	}
	for name, want := range wantRelayCol {
		if r := rows[name]; len(r) < 9 || r[8] != want {
			t.Errorf("%s row %q: ×relay %q, want %q", name, r, r, want)
		}
	}
	if !strings.Contains(text.String(), "sustained 8000, fanout 20000 deliveries/s") {
		t.Errorf("text report does not name the relay's figures:\n%s", text.String())
	}

	var js bytes.Buffer
	if err := rep.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Floor float64            `json:"floor_req_per_s"`
		Relay map[string]float64 `json:"relay_deliveries_per_s"`
		Runs  []struct {
			Run     string  `json:"run"`
			ToFloor float64 `json:"deliveries_to_floor"`
			ToRelay float64 `json:"deliveries_to_relay"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Floor != 20000 || back.Relay[runRelaySustained] != 8000 || back.Relay[runRelayFanout] != 20000 || len(back.Relay) != 2 {
		t.Errorf("JSON floor %v, relay %v; want 20000 and the two relay runs", back.Floor, back.Relay)
	}
	if len(back.Runs) != 6 || back.Runs[5].Run != runFanout || back.Runs[5].ToRelay != 1.25 || back.Runs[5].ToFloor != 1.25 {
		t.Errorf("JSON runs %+v, want fanout last at 1.25× relay and floor", back.Runs)
	}
}
