package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// summary is a whole invocation: the selected runs made -repeat times in
// turn, each repetition a report of its own (its ratios to its own floor
// and relay runs), and the median of each run over the repetitions.
type summary struct {
	Machine     loadgen.Machine `json:"machine"`
	Options     options         `json:"options"`
	Repetitions []*report       `json:"repetitions"`
	Median      *report         `json:"median"`
	// Failures are every repetition's, each naming its repetition.
	Failures []string `json:"failures,omitempty"`
}

// summarize takes the medians of reps, the repetitions in the order made.
func summarize(o options, reps []*report) *summary {
	s := &summary{Machine: loadgen.ThisMachine(), Options: o, Repetitions: reps}
	for i, rep := range reps {
		for _, f := range rep.Failures {
			s.Failures = append(s.Failures, fmt.Sprintf("repetition %d: %s", i+1, f))
		}
	}
	m := newReport(o)
	m.Machine, m.Of = s.Machine, len(reps)
	var labels []string
	byLabel := map[string][]*runResult{}
	for _, rep := range reps {
		for _, r := range rep.Runs {
			if byLabel[r.label()] == nil {
				labels = append(labels, r.label())
			}
			byLabel[r.label()] = append(byLabel[r.label()], r)
		}
	}
	for _, l := range labels {
		r := medianRun(byLabel[l], s.Machine.Cores)
		m.Runs = append(m.Runs, r)
		switch {
		case r.Run == runFloor:
			m.Floor, m.FloorCPU = r.IngestRPS, r.CPU
		case isRelay(r.Run) && r.DeliveriesPS > 0:
			if m.Relay == nil {
				m.Relay = map[string]float64{}
			}
			m.Relay[r.Run] = r.DeliveriesPS
		}
	}
	m.Failures = s.Failures
	s.Median = m
	return s
}

func (s *summary) writeText(w io.Writer) error { return s.Median.writeText(w) }

// span is the lowest and highest of a figure over the repetitions.
type span struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// median is the middle of xs, the mean of the two middle ones for an even
// count; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spanOf is the range of xs; nil for none.
func spanOf(xs []float64) *span {
	if len(xs) == 0 {
		return nil
	}
	return &span{Min: slices.Min(xs), Max: slices.Max(xs)}
}

// values is f of each of rs.
func values[T, U any](rs []T, f func(T) U) []U {
	us := make([]U, len(rs))
	for i, r := range rs {
		us[i] = f(r)
	}
	return us
}

// worstExit is the first non-zero exit code of rs, 0 when all exited 0,
// nil when one was never stopped.
func worstExit(rs []*runResult) *int {
	code := 0
	for _, r := range rs {
		if r.ExitCode == nil {
			return nil
		}
		if code == 0 {
			code = *r.ExitCode
		}
	}
	return &code
}

func medianInt(xs []float64) int           { return int(math.Round(median(xs))) }
func medianDur(xs []float64) time.Duration { return time.Duration(math.Round(median(xs))) }

// medianRun is the median record of one run's repetitions rs (the same run
// on the same store): every figure the report prints is the median over
// rs, the ratios to the floor and to the relay have their range beside
// them, and what fails a run (lost events, bad signatures, deliveries while
// paused, a bad exit) is the worst of rs instead. It carries no failures:
// the repetitions' own do.
func medianRun(rs []*runResult, cores int) *runResult {
	first := rs[0]
	m := &runResult{Run: first.Run, Store: first.Store, Rate: first.Rate, Requests: first.Requests, Events: first.Events,
		Subscribers: first.Subscribers, Version: first.Version, Drained: true}
	med := func(f func(*runResult) float64) float64 { return median(values(rs, f)) }
	m.IngestRPS = med(func(r *runResult) float64 { return r.IngestRPS })
	m.IngestEPS = med(func(r *runResult) float64 { return r.IngestEPS })
	m.DeliveriesPS = med(func(r *runResult) float64 { return r.DeliveriesPS })
	m.IngestRatio, m.IngestRange = medianSpan(rs, func(r *runResult) float64 { return r.IngestRatio })
	m.DeliveryRatio, m.DeliveryRange = medianSpan(rs, func(r *runResult) float64 { return r.DeliveryRatio })
	m.RelayRatio, m.RelayRange = medianSpan(rs, func(r *runResult) float64 { return r.RelayRatio })
	m.PacedCPURatio, m.PacedCPURange = medianSpan(rs, func(r *runResult) float64 { return r.PacedCPURatio })
	m.PacedAlwaysCPURatio, m.PacedAlwaysCPURange = medianSpan(rs, func(r *runResult) float64 { return r.PacedAlwaysCPURatio })
	// No range from one repetition, nor for a ratio of a run to itself.
	if m.Run == runFloor || len(rs) == 1 {
		m.IngestRange = nil
	}
	if isRelay(m.Run) || len(rs) == 1 {
		m.RelayRange = nil
	}
	if m.Run == runRelayPaced || len(rs) == 1 {
		m.PacedCPURange = nil
	}
	if m.Run == runRelayPacedAlways || len(rs) == 1 {
		m.PacedAlwaysCPURange = nil
	}
	if len(rs) == 1 {
		m.DeliveryRange = nil
	}
	m.Backlog = medianInt(values(rs, func(r *runResult) float64 { return float64(r.Backlog) }))
	m.Deliveries = int64(medianInt(values(rs, func(r *runResult) float64 { return float64(r.Deliveries) })))
	m.DeliverySpan = medianDur(values(rs, func(r *runResult) float64 { return float64(r.DeliverySpan) }))
	m.Wait = medianDur(values(rs, func(r *runResult) float64 { return float64(r.Wait) }))
	m.ExitTook = medianDur(values(rs, func(r *runResult) float64 { return float64(r.ExitTook) }))
	m.PeakRSS = int64(math.Round(med(func(r *runResult) float64 { return float64(r.PeakRSS) })))
	m.Duplicates = medianInt(values(rs, func(r *runResult) float64 { return float64(r.Duplicates) }))
	m.Verified = int64(medianInt(values(rs, func(r *runResult) float64 { return float64(r.Verified) })))

	var loads []*loadgen.LoadResult
	var e2es []loadgen.Summary
	var cpus []*cpuUse
	for _, r := range rs {
		m.Lost = max(m.Lost, r.Lost)
		m.BadSignatures = max(m.BadSignatures, r.BadSignatures)
		m.Malformed = max(m.Malformed, r.Malformed)
		m.Unaccepted = max(m.Unaccepted, r.Unaccepted)
		m.HeldDelivered = max(m.HeldDelivered, r.HeldDelivered)
		m.Drained = m.Drained && r.Drained
		if m.ExitLog == "" {
			m.ExitLog = r.ExitLog
		}
		if r.Load != nil {
			loads = append(loads, r.Load)
		}
		if r.E2E != nil {
			e2es = append(e2es, *r.E2E)
		}
		if r.CPU != nil {
			cpus = append(cpus, r.CPU)
		}
	}
	m.ExitCode = worstExit(rs)
	if len(loads) > 0 {
		m.Load = medianLoad(loads)
	}
	if len(e2es) > 0 {
		s := medianSummary(e2es)
		m.E2E = &s
	}
	if len(cpus) > 0 {
		m.CPU = perEventCPU(
			median(values(cpus, func(c *cpuUse) float64 { return c.each(c.Server) })),
			median(values(cpus, func(c *cpuUse) float64 { return c.each(c.Redis) })),
			median(values(cpus, func(c *cpuUse) float64 { return c.each(c.Bench) })),
			median(values(cpus, func(c *cpuUse) float64 { return c.busy(cores) })), cores)
	}
	return m
}

// medianSpan is the median of f over rs and its range; no range when the
// run has no such figure (f is 0 in every repetition).
func medianSpan(rs []*runResult, f func(*runResult) float64) (float64, *span) {
	xs := values(rs, f)
	if !slices.ContainsFunc(xs, func(x float64) bool { return x != 0 }) {
		return 0, nil
	}
	return median(xs), spanOf(xs)
}

// medianLoad is the median of each figure of ls.
func medianLoad(ls []*loadgen.LoadResult) *loadgen.LoadResult {
	med := func(f func(*loadgen.LoadResult) float64) int { return medianInt(values(ls, f)) }
	l := &loadgen.LoadResult{
		Sent:           med(func(l *loadgen.LoadResult) float64 { return float64(l.Sent) }),
		Accepted:       med(func(l *loadgen.LoadResult) float64 { return float64(l.Accepted) }),
		AcceptedEvents: med(func(l *loadgen.LoadResult) float64 { return float64(l.AcceptedEvents) }),
		Errors:         med(func(l *loadgen.LoadResult) float64 { return float64(l.Errors) }),
		Elapsed:        medianDur(values(ls, func(l *loadgen.LoadResult) float64 { return float64(l.Elapsed) })),
		Latency:        medianSummary(values(ls, func(l *loadgen.LoadResult) loadgen.Summary { return l.Latency })),
		Codes:          map[int]int{},
	}
	for _, x := range ls {
		for code := range x.Codes {
			if _, done := l.Codes[code]; done {
				continue
			}
			if n := med(func(l *loadgen.LoadResult) float64 { return float64(l.Codes[code]) }); n > 0 {
				l.Codes[code] = n
			} else {
				l.Codes[code] = 0
			}
		}
		if l.FirstError == "" {
			l.FirstError = x.FirstError
		}
	}
	for code, n := range l.Codes {
		if n == 0 {
			delete(l.Codes, code)
		}
	}
	return l
}

// medianSummary is the median of each percentile of ss.
func medianSummary(ss []loadgen.Summary) loadgen.Summary {
	d := func(f func(loadgen.Summary) time.Duration) time.Duration {
		return medianDur(values(ss, func(s loadgen.Summary) float64 { return float64(f(s)) }))
	}
	return loadgen.Summary{
		Count: medianInt(values(ss, func(s loadgen.Summary) float64 { return float64(s.Count) })),
		Mean:  d(func(s loadgen.Summary) time.Duration { return s.Mean }),
		P50:   d(func(s loadgen.Summary) time.Duration { return s.P50 }),
		P90:   d(func(s loadgen.Summary) time.Duration { return s.P90 }),
		P99:   d(func(s loadgen.Summary) time.Duration { return s.P99 }),
		Max:   d(func(s loadgen.Summary) time.Duration { return s.Max }),
	}
}

// medianPer is the count a median cpuUse's totals are expressed over, so
// that its per-event figures keep a millionth of a µs.
const medianPer = 1_000_000

// perEventCPU is a cpuUse whose figures per event are server, redis and
// bench µs and whose busy share of cores is busy: a median's, which has no
// totals of its own.
func perEventCPU(server, redis, bench, busy float64, cores int) *cpuUse {
	total := func(us float64) time.Duration { return time.Duration(math.Round(us * medianPer * 1000)) }
	c := &cpuUse{Server: total(server), Redis: total(redis), Bench: total(bench), Per: medianPer}
	if busy > 0 && cores > 0 {
		c.Wall = time.Duration(math.Round(float64(c.Server+c.Redis+c.Bench) / busy / float64(cores)))
	}
	return c
}

func (s *summary) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
