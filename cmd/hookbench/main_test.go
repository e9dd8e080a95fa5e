package main

import (
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    bool
		wantStores []string
		wantRuns   []string
	}{
		{"defaults: everything on both stores", nil, false, []string{"embedded", "redis"}, allRuns},
		{"one store", []string{"-store", "redis"}, false, []string{"redis"}, allRuns},
		{"store named twice", []string{"-store", "redis, redis"}, false, []string{"redis"}, allRuns},
		{"quick look", []string{"-runs", "held", "-store", "embedded"}, false, []string{"embedded"}, []string{runFloor, runHeld}},
		{"unknown store", []string{"-store", "etcd"}, true, nil, nil},
		{"unknown run", []string{"-runs", "fast"}, true, nil, nil},
		{"mix above 1", []string{"-mix", "2"}, true, nil, nil},
		{"batch over 100", []string{"-batch", "101"}, true, nil, nil},
		{"zero concurrency", []string{"-c", "0"}, true, nil, nil},
		{"zero fanout", []string{"-fanout", "0"}, true, nil, nil},
		{"verify none", []string{"-verify-every", "0"}, true, nil, nil},
		{"negative floor", []string{"-floor-n", "-1"}, true, nil, nil},
		{"stray argument", []string{"extra"}, true, nil, nil},
		{"one repetition", []string{"-repeat", "1"}, false, []string{"embedded", "redis"}, allRuns},
		{"paced brings relay-paced, relay-paced-always and paced-always", []string{"-runs", "paced"}, false, []string{"embedded", "redis"},
			[]string{runFloor, runRelayPaced, runRelayPacedAlways, runPaced, runPacedAlways}},
		{"paced-always alone", []string{"-runs", "paced-always", "-store", "redis"}, false, []string{"redis"}, []string{runFloor, runPacedAlways}},
		{"relay-paced-always alone", []string{"-runs", "relay-paced-always"}, false, []string{"embedded", "redis"},
			[]string{runFloor, runRelayPacedAlways}},
		{"paced-always is on redis only; relay-paced-always, the relay's, stays", []string{"-runs", "paced", "-store", "embedded"}, false,
			[]string{"embedded"}, []string{runFloor, runRelayPaced, runRelayPacedAlways, runPaced}},
		{"relay-paced-always without a rate: none", []string{"-runs", "relay-paced-always,held", "-paced", "0"}, false,
			[]string{"embedded", "redis"}, []string{runFloor, runHeld}},
		{"-paced 0: no paced run", []string{"-paced", "0"}, false, []string{"embedded", "redis"},
			[]string{runFloor, runRelaySustained, runRelayDrain, runRelayFanout, runHeld, runDrain, runSustained, runFanout}},
		{"-paced empty: no paced run", []string{"-runs", "paced,sustained", "-paced", ""}, false, []string{"embedded", "redis"}, []string{runFloor, runSustained}},
		{"bad rate", []string{"-paced", "fast"}, true, nil, nil},
		{"negative rate", []string{"-paced", "1000,-5"}, true, nil, nil},
		{"zero among rates", []string{"-paced", "1000,0"}, true, nil, nil},
		{"a rate too low to send anything", []string{"-paced", "0.01", "-paced-for", "1s"}, true, nil, nil},
		{"no paced duration", []string{"-paced-for", "0s"}, true, nil, nil},
		{"no repetition", []string{"-repeat", "0"}, true, nil, nil},
		{"negative repetitions", []string{"-repeat", "-2"}, true, nil, nil},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if !slices.Equal(o.Stores, tt.wantStores) || !slices.Equal(o.Runs, tt.wantRuns) {
			t.Errorf("%s: stores %v runs %v, want %v and %v", tt.name, o.Stores, o.Runs, tt.wantStores, tt.wantRuns)
		}
	}
	if o, _ := parseFlags(nil); o.Repeat != 3 {
		t.Errorf("default -repeat %d, want 3 (medians of 3)", o.Repeat)
	}
	if o, _ := parseFlags(nil); !slices.Equal(o.Paced, []float64{1000, 2000}) || o.PacedFor != 8*time.Second {
		t.Errorf("default -paced %v for %v, want 1000 and 2000 req/s for 8s", o.Paced, o.PacedFor)
	}
	if o, _ := parseFlags([]string{"-paced", "2000, 500,2000", "-paced-for", "3s"}); !slices.Equal(o.Paced, []float64{500, 2000}) || o.PacedFor != 3*time.Second {
		t.Errorf("-paced '2000, 500,2000' -paced-for 3s: %v for %v, want 500 and 2000 for 3s", o.Paced, o.PacedFor)
	}
	if o, _ := parseFlags([]string{"-repeat", "5"}); o.Repeat != 5 {
		t.Errorf("-repeat 5: %d", o.Repeat)
	}
	if o, _ := parseFlags([]string{"-n", "500", "-floor-n", "0"}); o.FloorN != 500 {
		t.Errorf("-floor-n 0: %d floor requests, want -n's 500", o.FloorN)
	}
}

func TestParseRuns(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"all", allRuns, false},
		{"floor", []string{runFloor}, false},
		{"fanout,sustained", []string{runFloor, runSustained, runFanout}, false},
		{"drain", []string{runFloor, runHeld, runDrain}, false},
		{"relay", []string{runFloor, runRelaySustained, runRelayDrain, runRelayFanout}, false},
		{"fanout,relay-fanout", []string{runFloor, runRelayFanout, runFanout}, false},
		{" held , fanout ", []string{runFloor, runHeld, runFanout}, false},
		{"sustained,all", allRuns, false},
		{"paced", []string{runFloor, runRelayPaced, runRelayPacedAlways, runPaced, runPacedAlways}, false},
		{"relay-paced", []string{runFloor, runRelayPaced}, false},
		{"relay-paced-always", []string{runFloor, runRelayPacedAlways}, false},
		{"paced-always,relay-paced-always", []string{runFloor, runRelayPacedAlways, runPacedAlways}, false},
		{"relay-paced-never", nil, true},
		{"paced-always,relay", []string{runFloor, runRelaySustained, runRelayDrain, runRelayFanout, runPacedAlways}, false},
		{"paced-never", nil, true},
		{"held,", nil, true},
		{"backlog", nil, true},
	}
	for _, tt := range tests {
		got, err := parseRuns(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseRuns(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if !slices.Contains(allRuns, runRelayPacedAlways) {
		t.Errorf("all (%v) lacks %s", allRuns, runRelayPacedAlways)
	}
}

// The zero-loss runs stand on a redis-server at appendfsync always, every
// other run on one at everysec; relay-paced-always is a paced run and a
// divisor of the paced table, not of ×relay.
func TestRunKinds(t *testing.T) {
	tests := []struct {
		run                       string
		fsync                     string
		paced, relayPaced, closed bool
	}{
		{runFloor, "everysec", false, false, false},
		{runRelaySustained, "everysec", false, false, true},
		{runRelayPaced, "everysec", true, true, false},
		{runRelayPacedAlways, "always", true, true, false},
		{runSustained, "everysec", false, false, false},
		{runPaced, "everysec", true, false, false},
		{runPacedAlways, "always", true, false, false},
	}
	for _, tt := range tests {
		if got := fsyncPolicy(tt.run); got != tt.fsync {
			t.Errorf("fsyncPolicy(%s) = %s, want %s", tt.run, got, tt.fsync)
		}
		if isPaced(tt.run) != tt.paced || isRelayPaced(tt.run) != tt.relayPaced || isRelay(tt.run) != tt.closed {
			t.Errorf("%s: paced %v, relay-paced %v, closed-loop relay %v; want %v, %v, %v", tt.run,
				isPaced(tt.run), isRelayPaced(tt.run), isRelay(tt.run), tt.paced, tt.relayPaced, tt.closed)
		}
	}
}

func TestFinishFailures(t *testing.T) {
	zero, one := 0, 1
	ok := func() *loadgen.LoadResult {
		return &loadgen.LoadResult{Accepted: 10, AcceptedEvents: 10, Elapsed: 2 * time.Second}
	}
	tests := []struct {
		name string
		r    runResult
		want int // failures
	}{
		{"clean", runResult{Run: runSustained, Load: ok(), ExitCode: &zero}, 0},
		{"lost", runResult{Run: runSustained, Load: ok(), ExitCode: &zero, Sinks: []loadgen.SinkCounts{{Lost: 2}}}, 1},
		{"lost in the drain", runResult{Run: runDrain, ExitCode: &zero, Sinks: []loadgen.SinkCounts{{Lost: 2}}}, 1},
		{"bad signature", runResult{Run: runFanout, Load: ok(), ExitCode: &zero, Sinks: []loadgen.SinkCounts{{BadSignatures: 1}}}, 1},
		{"duplicates are not failures", runResult{Run: runSustained, Load: ok(), ExitCode: &zero, Sinks: []loadgen.SinkCounts{{Duplicates: 3}}}, 0},
		{"delivered while paused", runResult{Run: runHeld, Load: ok(), ExitCode: &zero, HeldDelivered: 1}, 1},
		{"drain sends nothing: no ingest failure", runResult{Run: runDrain, ExitCode: &zero}, 0},
		{"exit 1", runResult{Run: runHeld, Load: ok(), ExitCode: &one}, 1},
		{"never stopped", runResult{Run: runFloor, Load: ok()}, 1},
		{"nothing accepted", runResult{Run: runFloor, Load: &loadgen.LoadResult{}, ExitCode: &zero}, 1},
	}
	for _, tt := range tests {
		tt.r.finish()
		if len(tt.r.Failures) != tt.want {
			t.Errorf("%s: failures %q, want %d", tt.name, tt.r.Failures, tt.want)
		}
	}
	r := runResult{Run: runSustained, Load: ok(), ExitCode: &zero, Deliveries: 30, DeliverySpan: 3 * time.Second}
	r.finish()
	if r.IngestRPS != 5 || r.IngestEPS != 5 || r.DeliveriesPS != 10 {
		t.Errorf("rates %v req/s %v events/s %v deliveries/s, want 5, 5 and 10", r.IngestRPS, r.IngestEPS, r.DeliveriesPS)
	}
}
