package main

import (
	"bytes"
	"context"
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
// relay-paced's at the same rate; at another rate, or without relay-paced,
// it has no such ratio. Paced runs have a table of their own, by rate.
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
	relay1k := run(runRelayPaced, "redis", 1000, 200*time.Millisecond, 100*time.Millisecond) // 300 µs/event
	paced1k := run(runPaced, "redis", 1000, 300*time.Millisecond, 150*time.Millisecond)      // 450: 1.5×
	emb1k := run(runPaced, "embedded", 1000, 240*time.Millisecond, 0)                        // 240: 0.8×
	always1k := run(runPacedAlways, "redis", 1000, 300*time.Millisecond, 300*time.Millisecond)
	paced2k := run(runPaced, "redis", 2000, 600*time.Millisecond, 300*time.Millisecond) // no relay-paced at 2000
	rep := newReport(options{Requests: 1000, Concurrency: 64, VerifyEvery: 64, Paced: []float64{1000, 2000}, PacedFor: time.Second})
	rep.add(floor, relay1k, emb1k, paced2k, paced1k, always1k)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"relay-paced to itself", relay1k.PacedCPURatio, 1},
		{"paced on redis", paced1k.PacedCPURatio, 1.5},
		{"paced on embedded (no Redis)", emb1k.PacedCPURatio, 0.8},
		{"paced-always", always1k.PacedCPURatio, 2},
		{"no relay-paced at 2000", paced2k.PacedCPURatio, 0},
		{"not a paced run", floor.PacedCPURatio, 0},
	}
	for _, tt := range tests {
		if d := tt.got - tt.want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: ×relay-paced %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if relay1k.RelayRatio != 0 || rep.Relay[runRelayPaced] != 0 {
		t.Errorf("relay-paced is a ×relay divisor (%v, %v); want it in the paced table alone", relay1k.RelayRatio, rep.Relay)
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
	// req/s run store delivered/s p50 / p99 / max server+redis ×relay-paced peak-RSS
	want := [][]string{
		{"1000", runRelayPaced, "redis", "300.0", "1.00×"},
		{"1000", runPaced, "embedded", "240.0", "0.80×"},
		{"1000", runPaced, "redis", "450.0", "1.50×"},
		{"1000", runPacedAlways, "redis", "600.0", "2.00×"},
		{"2000", runPaced, "redis", "450.0", "-"},
	}
	if len(pacedRows) != len(want) {
		t.Fatalf("paced table rows %q, want %d:\n%s", pacedRows, len(want), text.String())
	}
	for i, w := range want {
		r := pacedRows[i]
		if len(r) != 12 || r[0] != w[0] || r[1] != w[1] || r[2] != w[2] || r[6] != "3ms" || r[9] != w[3] || r[10] != w[4] {
			t.Errorf("paced row %d %q, want rate %s, %s on %s, p99 3ms, %s µs, %s", i, r, w[0], w[1], w[2], w[3], w[4])
		}
	}
	for _, want := range []string{"paced@1000  redis", "paced@2000  redis", "paced:   1000 req/s (1000 requests), 2000 req/s (2000 requests), each for 1s"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

// A real, short paced run of the lean relay, twice, as `hookbench -runs
// relay-paced -paced 200 -paced-for 1s -repeat 2` makes it: the floor and
// the relay are processes of their own (this test binary, as hookbench),
// every request is sent and delivered, at most at the rate, and the
// medians carry the run with its ratio to itself.
func TestPacedRelayRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-servers and processes")
	}
	t.Setenv(beChildEnv, "1")
	o, err := parseFlags([]string{"-runs", "relay-paced", "-paced", "200", "-paced-for", "1s", "-floor-n", "200", "-repeat", "2",
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
		if len(rep.Runs) != 2 || rep.Runs[1].Run != runRelayPaced {
			t.Fatalf("repetition %d: runs %v, want the floor and relay-paced", i+1, rep.Runs)
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
	if len(m.Runs) != 2 || m.Runs[1].label() != "relay-paced@200/redis" || m.Runs[1].PacedCPURatio != 1 || m.Runs[1].E2E == nil {
		t.Fatalf("medians %v, want relay-paced@200 at 1.00× itself with its latency", m.Runs)
	}
	var text bytes.Buffer
	if err := s.writeText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"medians of 2 repetitions", "relay-paced@200", "×relay-paced", "PASS"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}
