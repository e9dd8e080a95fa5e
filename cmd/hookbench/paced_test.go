package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// beChildEnv makes the test binary hookbench itself (main), for the
// floor's and the relay's processes, which hookbench starts from its own
// executable.
const beChildEnv = "HOOKBENCH_TEST_BE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(beChildEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A paced run's (server + its Redis) CPU per event is divided by
// relay-paced's and by relay-paced-always's at the same rate; at another
// rate, or without them, it has no such ratios. Paced runs have a table of
// their own, by rate, with both ratios.
func TestReportPacedCPUToRelayPaced(t *testing.T) {
	zero := 0
	run := func(name, store string, rate float64, server, redis time.Duration) *runResult {
		n := max(int(rate), 1000)
		r := &runResult{Run: name, Store: store, Rate: rate, Subscribers: 1, ExitCode: &zero,
			Load:       &loadgen.LoadResult{Sent: n, Accepted: n, AcceptedEvents: n, Elapsed: time.Second},
			Deliveries: int64(n), DeliverySpan: time.Second,
			E2E: &loadgen.Summary{Count: n, P50: time.Millisecond, P99: 3 * time.Millisecond, Max: 9 * time.Millisecond},
			CPU: &cpuUse{Server: server, Redis: redis, Wall: time.Second, Per: n}}
		r.finish()
		return r
	}
	floor := run(runFloor, "redis", 0, time.Second, time.Second)
	relay1k := run(runRelayPaced, "redis", 1000, 200*time.Millisecond, 100*time.Millisecond)             // 300 µs/event
	relayAlways1k := run(runRelayPacedAlways, "redis", 1000, 250*time.Millisecond, 350*time.Millisecond) // 600 µs/event
	paced1k := run(runPaced, "redis", 1000, 300*time.Millisecond, 150*time.Millisecond)                  // 450: 1.5×
	emb1k := run(runPaced, "embedded", 1000, 240*time.Millisecond, 0)                                    // 240: 0.8×
	always1k := run(runPacedAlways, "redis", 1000, 300*time.Millisecond, 300*time.Millisecond)
	paced2k := run(runPaced, "redis", 2000, 600*time.Millisecond, 300*time.Millisecond) // no relay-paced at 2000
	rep := newReport(options{Requests: 1000, Concurrency: 64, VerifyEvery: 64, Paced: []float64{1000, 2000}, PacedFor: time.Second})
	rep.add(floor, relay1k, emb1k, paced2k, paced1k)
	rep.add(relayAlways1k, always1k) // a divisor added after what it divides
	tests := []struct {
		name      string
		got, want float64
	}{
		{"relay-paced to itself", relay1k.PacedCPURatio, 1},
		{"paced on redis", paced1k.PacedCPURatio, 1.5},
		{"paced on embedded (no Redis)", emb1k.PacedCPURatio, 0.8},
		{"paced-always", always1k.PacedCPURatio, 2},
		{"relay-paced-always to relay-paced", relayAlways1k.PacedCPURatio, 2},
		{"no relay-paced at 2000", paced2k.PacedCPURatio, 0},
		{"not a paced run", floor.PacedCPURatio, 0},
		{"×relay-always: relay-paced-always to itself", relayAlways1k.PacedAlwaysCPURatio, 1},
		{"×relay-always: relay-paced", relay1k.PacedAlwaysCPURatio, 0.5},
		{"×relay-always: paced on redis", paced1k.PacedAlwaysCPURatio, 0.75},
		{"×relay-always: paced on embedded", emb1k.PacedAlwaysCPURatio, 0.4},
		{"×relay-always: paced-always", always1k.PacedAlwaysCPURatio, 1},
		{"×relay-always: none at 2000", paced2k.PacedAlwaysCPURatio, 0},
		{"×relay-always: not a paced run", floor.PacedAlwaysCPURatio, 0},
	}
	for _, tt := range tests {
		if d := tt.got - tt.want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: ratio %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if relay1k.RelayRatio != 0 || relayAlways1k.RelayRatio != 0 || rep.Relay[runRelayPaced] != 0 || rep.Relay[runRelayPacedAlways] != 0 {
		t.Errorf("a paced relay run is a ×relay divisor (%v, %v, %v); want it in the paced table alone",
			relay1k.RelayRatio, relayAlways1k.RelayRatio, rep.Relay)
	}
	if len(rep.Failures) != 0 {
		t.Fatalf("failures %q", rep.Failures)
	}

	var text bytes.Buffer
	if err := rep.writeText(&text); err != nil {
		t.Fatal(err)
	}
	var pacedRows [][]string
	inTable := false
	for _, line := range strings.Split(text.String(), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "req/s":
			inTable = true
		case len(f) == 0:
			inTable = false
		case inTable:
			pacedRows = append(pacedRows, f)
		}
	}
	// req/s run store delivered/s p50 / p99 / max server+redis ×relay-paced ×relay-always peak-RSS
	want := [][]string{
		{"1000", runRelayPaced, "redis", "300.0", "1.00×", "0.50×"},
		{"1000", runPaced, "embedded", "240.0", "0.80×", "0.40×"},
		{"1000", runPaced, "redis", "450.0", "1.50×", "0.75×"},
		{"1000", runRelayPacedAlways, "redis", "600.0", "2.00×", "1.00×"},
		{"1000", runPacedAlways, "redis", "600.0", "2.00×", "1.00×"},
		{"2000", runPaced, "redis", "450.0", "-", "-"},
	}
	if len(pacedRows) != len(want) {
		t.Fatalf("paced table rows %q, want %d:\n%s", pacedRows, len(want), text.String())
	}
	for i, w := range want {
		r := pacedRows[i]
		if len(r) != 13 || r[0] != w[0] || r[1] != w[1] || r[2] != w[2] || r[6] != "3ms" || r[9] != w[3] || r[10] != w[4] || r[11] != w[5] {
			t.Errorf("paced row %d %q, want rate %s, %s on %s, p99 3ms, %s µs, %s and %s", i, r, w[0], w[1], w[2], w[3], w[4], w[5])
		}
	}
	for _, want := range []string{"paced@1000  redis", "paced@2000  redis", "relay-paced-always@1000", "×relay-paced  ×relay-always",
		"paced:   1000 req/s (1000 requests), 2000 req/s (2000 requests), each for 1s",
		"relay-paced-always, paced-always: the same on", "appendfsync always", "the embedded store fsyncs every commit"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

// Over repetitions, each paced run's two ratios are the medians of each
// repetition's own (to its own relay-paced and relay-paced-always), with
// their ranges, in the text and the JSON; a relay run's ratio to itself
// has no range.
func TestSummarizePacedRatios(t *testing.T) {
	zero := 0
	run := func(name, store string, cpu time.Duration) *runResult {
		r := &runResult{Run: name, Store: store, Rate: 1000, Subscribers: 1, ExitCode: &zero,
			Load:       &loadgen.LoadResult{Sent: 1000, Accepted: 1000, AcceptedEvents: 1000, Elapsed: time.Second},
			Deliveries: 1000, DeliverySpan: time.Second,
			CPU: &cpuUse{Server: cpu, Wall: time.Second, Per: 1000}}
		r.finish()
		return r
	}
	// µs per event of relay-paced, relay-paced-always and paced-always on redis, by repetition
	cpus := [][3]time.Duration{{100, 200, 300}, {100, 400, 200}, {200, 250, 500}} // ×relay-paced 3, 2, 2.5; ×relay-always 1.5, 0.5, 2
	var reps []*report
	for _, c := range cpus {
		rep := newReport(options{Requests: 1000, Concurrency: 64, VerifyEvery: 64, Paced: []float64{1000}, PacedFor: time.Second})
		rep.add(run(runFloor, "redis", time.Second), run(runRelayPaced, "redis", c[0]*time.Millisecond),
			run(runRelayPacedAlways, "redis", c[1]*time.Millisecond), run(runPacedAlways, "redis", c[2]*time.Millisecond))
		reps = append(reps, rep)
	}
	s := summarize(options{Requests: 1000, Concurrency: 64, VerifyEvery: 64, Repeat: 3, Paced: []float64{1000}, PacedFor: time.Second}, reps)
	if len(s.Median.Runs) != 4 {
		t.Fatalf("median runs %v, want 4", s.Median.Runs)
	}
	relay, relayAlways, always := s.Median.Runs[1], s.Median.Runs[2], s.Median.Runs[3]
	if always.PacedCPURatio != 2.5 || *always.PacedCPURange != (span{2, 3}) ||
		always.PacedAlwaysCPURatio != 1.5 || *always.PacedAlwaysCPURange != (span{0.5, 2}) {
		t.Errorf("paced-always: ×relay-paced %v %+v, ×relay-always %v %+v; want 2.5 (2–3) and 1.5 (0.5–2)",
			always.PacedCPURatio, always.PacedCPURange, always.PacedAlwaysCPURatio, always.PacedAlwaysCPURange)
	}
	if relay.PacedCPURatio != 1 || relay.PacedCPURange != nil || relay.PacedAlwaysCPURange == nil ||
		relayAlways.PacedAlwaysCPURatio != 1 || relayAlways.PacedAlwaysCPURange != nil || relayAlways.PacedCPURange == nil {
		t.Errorf("relay-paced %v %+v / %+v, relay-paced-always %v %+v / %+v; want 1 without a range to itself, a range to the other",
			relay.PacedCPURatio, relay.PacedCPURange, relay.PacedAlwaysCPURange,
			relayAlways.PacedAlwaysCPURatio, relayAlways.PacedAlwaysCPURange, relayAlways.PacedCPURange)
	}
	var text bytes.Buffer
	if err := s.writeText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2.50× (2.00–3.00)  1.50× (0.50–2.00)", "×relay-always"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := s.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Repetitions []struct {
			Runs []struct {
				ToRelay       float64 `json:"paced_cpu_to_relay"`
				ToRelayAlways float64 `json:"paced_cpu_to_relay_always"`
			} `json:"runs"`
		} `json:"repetitions"`
		Median struct {
			Runs []struct {
				ToRelay            float64 `json:"paced_cpu_to_relay"`
				ToRelayRange       *span   `json:"paced_cpu_to_relay_range"`
				ToRelayAlways      float64 `json:"paced_cpu_to_relay_always"`
				ToRelayAlwaysRange *span   `json:"paced_cpu_to_relay_always_range"`
			} `json:"runs"`
		} `json:"median"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Repetitions) != 3 || back.Repetitions[1].Runs[3].ToRelay != 2 || back.Repetitions[1].Runs[3].ToRelayAlways != 0.5 {
		t.Errorf("JSON repetitions %+v, want the second's paced-always at 2 and 0.5", back.Repetitions)
	}
	if m := back.Median.Runs; len(m) != 4 || m[3].ToRelay != 2.5 || m[3].ToRelayAlways != 1.5 ||
		m[3].ToRelayRange == nil || m[3].ToRelayAlwaysRange == nil || *m[3].ToRelayAlwaysRange != (span{0.5, 2}) {
		t.Errorf("JSON medians %+v, want paced-always at 2.5 and 1.5 with their ranges", m)
	}
}

// A real, short paced run of the lean relay, on everysec and on always,
// twice, as `hookbench -runs relay-paced,relay-paced-always -paced 200
// -paced-for 1s -repeat 2` makes it: the floor and the relay are processes
// of their own (this test binary, as hookbench), every request is sent and
// delivered, at most at the rate, and the medians carry each run with its
// ratio to itself and to the other.
func TestPacedRelayRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-servers and processes")
	}
	t.Setenv(beChildEnv, "1")
	o, err := parseFlags([]string{"-runs", "relay-paced,relay-paced-always", "-paced", "200", "-paced-for", "1s", "-floor-n", "200", "-repeat", "2",
		"-drain", "20s", "-drain-idle", "5s"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := repeat(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Failures) != 0 {
		t.Fatalf("failures: %q", s.Failures)
	}
	if len(s.Repetitions) != 2 {
		t.Fatalf("%d repetitions, want 2", len(s.Repetitions))
	}
	for i, rep := range s.Repetitions {
		if len(rep.Runs) != 3 || rep.Runs[1].Run != runRelayPaced || rep.Runs[2].Run != runRelayPacedAlways {
			t.Fatalf("repetition %d: runs %v, want the floor, relay-paced and relay-paced-always", i+1, rep.Runs)
		}
		if a := rep.Runs[2]; a.Lost != 0 || !a.Drained || a.PacedAlwaysCPURatio != 1 || !(a.PacedCPURatio > 0) || !(rep.Runs[1].PacedAlwaysCPURatio > 0) {
			t.Errorf("repetition %d: relay-paced-always lost %d, drained %v, ×relay-always %v, ×relay-paced %v (relay-paced's ×relay-always %v);"+
				" want none lost, 1 to itself and ratios to the other", i+1, a.Lost, a.Drained, a.PacedAlwaysCPURatio, a.PacedCPURatio, rep.Runs[1].PacedAlwaysCPURatio)
		}
		r := rep.Runs[1]
		if r.Rate != 200 || r.Load.Sent != 200 || r.Load.Accepted != 200 || r.Deliveries != 200 || r.Lost != 0 || !r.Drained {
			t.Errorf("repetition %d: rate %v, %d sent, %d accepted, %d delivered, %d lost, drained %v; want all 200 at 200/s",
				i+1, r.Rate, r.Load.Sent, r.Load.Accepted, r.Deliveries, r.Lost, r.Drained)
		}
		// Request i is not sent before i/rate: the 200th not before 995ms.
		if r.Load.Elapsed < 995*time.Millisecond {
			t.Errorf("repetition %d: 200 requests at 200/s sent in %v: not paced", i+1, r.Load.Elapsed)
		}
		if r.E2E == nil || r.E2E.Count != 200 || r.CPU == nil || r.CPU.Per != 200 || r.PacedCPURatio != 1 || r.PeakRSS <= 0 {
			t.Errorf("repetition %d: e2e %+v, cpu %+v, ×relay-paced %v, peak RSS %d; want 200 samples, per 200, 1 and a peak",
				i+1, r.E2E, r.CPU, r.PacedCPURatio, r.PeakRSS)
		}
	}
	m := s.Median
	if len(m.Runs) != 3 || m.Runs[1].label() != "relay-paced@200/redis" || m.Runs[1].PacedCPURatio != 1 || m.Runs[1].E2E == nil ||
		m.Runs[2].label() != "relay-paced-always@200/redis" || m.Runs[2].PacedAlwaysCPURatio != 1 || m.Runs[2].E2E == nil {
		t.Fatalf("medians %v, want relay-paced@200 and relay-paced-always@200, each at 1.00× itself with its latency", m.Runs)
	}
	var text bytes.Buffer
	if err := s.writeText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"medians of 2 repetitions", "relay-paced@200", "relay-paced-always@200", "×relay-paced", "×relay-always", "PASS"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}
