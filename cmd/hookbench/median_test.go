package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name     string
		in       []float64
		want     float64
		min, max float64
	}{
		{"one", []float64{3}, 3, 3, 3},
		{"odd, unsorted", []float64{5, 1, 3}, 3, 1, 5},
		{"even: the mean of the middle two", []float64{4, 1, 3, 10}, 3.5, 1, 10},
		{"two", []float64{2, 4}, 3, 2, 4},
		{"repeated values", []float64{7, 7, 1}, 7, 1, 7},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		if got := median(in); got != tt.want {
			t.Errorf("%s: median(%v) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
		if sp := spanOf(in); sp == nil || sp.Min != tt.min || sp.Max != tt.max {
			t.Errorf("%s: spanOf(%v) = %+v, want %v–%v", tt.name, tt.in, sp, tt.min, tt.max)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Errorf("%s: median reordered its input: %v", tt.name, in)
				break
			}
		}
	}
	if median(nil) != 0 || spanOf(nil) != nil {
		t.Error("no values: want median 0 and no range")
	}
}

// repetition is a report of one repetition of floor, relay-sustained and
// sustained with the given rates, as run would make it.
func repetition(floorRPS, relayPS, sustainedPS int, rss int64, p99 time.Duration, serverCPU time.Duration, lost int) *report {
	zero := 0
	load := func(n int) *loadgen.LoadResult {
		return &loadgen.LoadResult{Sent: n, Accepted: n, AcceptedEvents: n, Elapsed: time.Second,
			Latency: loadgen.Summary{Count: n, P50: p99 / 2, P99: p99, Max: 2 * p99}}
	}
	floor := &runResult{Run: runFloor, Store: "redis", Load: load(floorRPS), ExitCode: &zero,
		CPU: &cpuUse{Server: time.Second, Wall: time.Second, Per: floorRPS}}
	relay := &runResult{Run: runRelaySustained, Store: "redis", Subscribers: 1, Load: load(relayPS), Deliveries: int64(relayPS),
		DeliverySpan: time.Second, ExitCode: &zero}
	sus := &runResult{Run: runSustained, Store: "redis", Subscribers: 1, Load: load(sustainedPS), Deliveries: int64(sustainedPS),
		DeliverySpan: time.Second, ExitCode: &zero, PeakRSS: rss,
		E2E:   &loadgen.Summary{Count: sustainedPS, P50: p99 / 2, P99: p99, Max: 2 * p99},
		CPU:   &cpuUse{Server: serverCPU, Redis: serverCPU / 2, Bench: serverCPU / 4, Wall: time.Second, Per: sustainedPS},
		Sinks: []loadgen.SinkCounts{{Lost: lost, Verified: 10}}}
	rep := newReport(options{Requests: 1000, Concurrency: 64, VerifyEvery: 64})
	for _, r := range []*runResult{floor, relay, sus} {
		r.finish()
	}
	rep.add(floor, relay, sus)
	return rep
}

// The medians of N repetitions: each figure the median of the
// repetitions' (each ratio to its own repetition's floor and relay), the
// ratios' ranges beside them, failures named by repetition.
func TestSummarize(t *testing.T) {
	reps := []*report{
		repetition(10000, 5000, 4000, 100<<20, 10*time.Millisecond, 400*time.Millisecond, 0), // 0.40× floor, 0.80× relay
		repetition(8000, 5000, 4000, 120<<20, 30*time.Millisecond, 800*time.Millisecond, 2),  // 0.50×, 0.80×, loses 2
		repetition(10000, 4000, 2000, 110<<20, 20*time.Millisecond, 600*time.Millisecond, 0), // 0.20×, 0.50×
	}
	s := summarize(options{Requests: 1000, Concurrency: 64, VerifyEvery: 64, Repeat: 3}, reps)
	m := s.Median
	if m.Of != 3 || len(m.Runs) != 3 || m.Floor != 10000 || m.Relay[runRelaySustained] != 5000 {
		t.Fatalf("medians of %d: %d runs, floor %v, relay %v; want 3 runs, floor 10000 and relay 5000", m.Of, len(m.Runs), m.Floor, m.Relay)
	}
	sus := m.Runs[2]
	tests := []struct {
		name      string
		got, want float64
	}{
		{"deliveries/s", sus.DeliveriesPS, 4000},
		{"×floor: the median of each repetition's own", sus.DeliveryRatio, 0.4},
		{"×floor low", sus.DeliveryRange.Min, 0.2},
		{"×floor high", sus.DeliveryRange.Max, 0.5},
		{"×relay", sus.RelayRatio, 0.8},
		{"×relay low", sus.RelayRange.Min, 0.5},
		{"relay to itself", m.Runs[1].RelayRatio, 1},
		{"peak RSS", float64(sus.PeakRSS), 110 << 20},
		{"e2e p99 (ms)", float64(sus.E2E.P99 / time.Millisecond), 20},
		{"ingest p99 (ms)", float64(sus.Load.Latency.P99 / time.Millisecond), 20},
		{"server cpu µs/event (100, 200, 300)", sus.CPU.each(sus.CPU.Server), 200},
		{"redis cpu µs/event", sus.CPU.each(sus.CPU.Redis), 100},
		{"lost: the worst repetition's", float64(sus.Lost), 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if len(sus.Failures) != 0 {
		t.Errorf("median record has failures %q, want the repetitions' alone", sus.Failures)
	}
	if len(s.Failures) != 1 || !strings.HasPrefix(s.Failures[0], "repetition 2: sustained/redis: 2 accepted") {
		t.Errorf("failures %q, want one naming repetition 2", s.Failures)
	}

	var text bytes.Buffer
	if err := s.writeText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"medians of 3 repetitions", "0.40× (0.20–0.50)", "0.80× (0.50–0.80)", "110 MB", "FAIL: repetition 2: sustained/redis"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "PASS") {
		t.Errorf("text says PASS although a repetition failed:\n%s", text.String())
	}

	var js bytes.Buffer
	if err := s.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Repetitions []struct {
			Floor float64 `json:"floor_req_per_s"`
			Runs  []struct {
				Run     string  `json:"run"`
				ToFloor float64 `json:"deliveries_to_floor"`
			} `json:"runs"`
		} `json:"repetitions"`
		Median struct {
			Of   int `json:"median_of"`
			Runs []struct {
				Run     string `json:"run"`
				ToFloor float64
				Range   *span `json:"deliveries_to_floor_range"`
			} `json:"runs"`
		} `json:"median"`
		Failures []string `json:"failures"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Repetitions) != 3 || back.Repetitions[1].Floor != 8000 || back.Repetitions[1].Runs[2].ToFloor != 0.5 {
		t.Errorf("JSON repetitions %+v, want 3, the second with its floor 8000 and sustained 0.50×", back.Repetitions)
	}
	if back.Median.Of != 3 || len(back.Median.Runs) != 3 || back.Median.Runs[2].Range == nil || back.Median.Runs[2].Range.Max != 0.5 || len(back.Failures) != 1 {
		t.Errorf("JSON medians %+v, failures %q; want 3 runs, sustained's range up to 0.5, one failure", back.Median, back.Failures)
	}
}

// Even N: figures are the means of the two middle repetitions'.
func TestSummarizeEven(t *testing.T) {
	reps := []*report{
		repetition(10000, 5000, 4000, 100<<20, 10*time.Millisecond, 400*time.Millisecond, 0),
		repetition(10000, 5000, 2000, 200<<20, 30*time.Millisecond, 800*time.Millisecond, 0),
	}
	m := summarize(options{Repeat: 2, VerifyEvery: 64}, reps).Median
	sus := m.Runs[2]
	if sus.DeliveriesPS != 3000 || math.Abs(sus.DeliveryRatio-0.3) > 1e-9 || *sus.DeliveryRange != (span{0.2, 0.4}) ||
		sus.PeakRSS != 150<<20 || sus.E2E.P99 != 20*time.Millisecond || sus.CPU.each(sus.CPU.Server) != 250 {
		t.Errorf("medians of 2: %v/s ×floor %v %+v, RSS %d, p99 %v, cpu %v; want 3000, 0.3 (0.2–0.4), 150 MB, 20ms, 250 µs",
			sus.DeliveriesPS, sus.DeliveryRatio, sus.DeliveryRange, sus.PeakRSS, sus.E2E.P99, sus.CPU.each(sus.CPU.Server))
	}
	if *sus.ExitCode != 0 || len(m.Failures) != 0 {
		t.Errorf("exit %d, failures %q; want 0 and none", *sus.ExitCode, m.Failures)
	}
}
