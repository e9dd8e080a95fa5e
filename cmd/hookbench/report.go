package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/internal/loadgen"
)

// runResult is one run: the floor, or one gateway run on one store.
type runResult struct {
	Run         string  `json:"run"`            // floor, relay-*, held, drain, sustained, fanout, paced, paced-always
	Store       string  `json:"store"`          // "redis" or "embedded"; the relay's is redis
	Rate        float64 `json:"rate,omitempty"` // a paced run's requests per second
	Requests    int     `json:"requests_planned"`
	Events      int     `json:"events_planned"`
	Subscribers int     `json:"subscribers,omitempty"`
	Version     string  `json:"version,omitempty"` // `hookgate version` of the binary measured

	// Load is the run's own send phase; nil for drain, which sends nothing.
	Load      *loadgen.LoadResult `json:"ingest,omitempty"`
	IngestRPS float64             `json:"ingest_req_per_s,omitempty"`    // accepted requests over the send phase
	IngestEPS float64             `json:"ingest_events_per_s,omitempty"` // accepted events over the send phase
	// Backlog is, for drain, the events held's ingest accepted.
	Backlog int `json:"backlog,omitempty"`

	// Deliveries are first receipts over all subscribers; DeliverySpan runs
	// from the start of sending (or, for drain, the resume) to the last.
	Deliveries   int64         `json:"deliveries,omitempty"`
	DeliverySpan time.Duration `json:"delivery_span_ns,omitempty"`
	DeliveriesPS float64       `json:"deliveries_per_s,omitempty"`

	// Ratios to the floor's req/s in the same invocation; 0 when the run
	// has no such figure.
	IngestRatio   float64 `json:"ingest_to_floor,omitempty"`
	DeliveryRatio float64 `json:"deliveries_to_floor,omitempty"`
	// RelayRatio is deliveries/s over the matching lean relay run's
	// (sustained to relay-sustained, drain to relay-drain, fanout to
	// relay-fanout; a relay run to itself); 0 when that run was not made.
	RelayRatio float64 `json:"deliveries_to_relay,omitempty"`
	// The ranges of the three ratios over the repetitions, on a median
	// record (medianRun) alone.
	IngestRange   *span `json:"ingest_to_floor_range,omitempty"`
	DeliveryRange *span `json:"deliveries_to_floor_range,omitempty"`
	RelayRange    *span `json:"deliveries_to_relay_range,omitempty"`
	// PacedCPURatio is, for a paced run, its (server + its Redis) CPU per
	// event over relay-paced's at the same rate in the same repetition
	// (relay-paced: 1); 0 when that run was not made.
	PacedCPURatio float64 `json:"paced_cpu_to_relay,omitempty"`
	PacedCPURange *span   `json:"paced_cpu_to_relay_range,omitempty"`
	// PacedAlwaysCPURatio is the same over relay-paced-always's, the relay
	// on a redis-server at appendfsync always: the divisor with the
	// durability of the gateway's zero-loss settings (relay-paced-always: 1).
	PacedAlwaysCPURatio float64 `json:"paced_cpu_to_relay_always,omitempty"`
	PacedAlwaysCPURange *span   `json:"paced_cpu_to_relay_always_range,omitempty"`

	E2E   *loadgen.Summary     `json:"end_to_end,omitempty"` // upstream POST start to sink receipt
	Sinks []loadgen.SinkCounts `json:"sinks,omitempty"`

	Lost          int   `json:"lost"`
	Duplicates    int   `json:"duplicates"`
	Verified      int64 `json:"signatures_checked"`
	BadSignatures int64 `json:"bad_signatures"`
	Malformed     int64 `json:"malformed"`
	Unaccepted    int   `json:"unaccepted_delivered"`
	// HeldDelivered: for held, deliveries that arrived although the
	// subscriber was paused before the first request; must be 0.
	HeldDelivered int64 `json:"delivered_while_paused"`

	Wait     time.Duration `json:"wait_ns"` // after sending (or resuming), until the last event arrived
	Drained  bool          `json:"drained"`
	ExitCode *int          `json:"exit_code"` // after SIGTERM; nil if never stopped
	ExitTook time.Duration `json:"exit_took_ns"`
	ExitLog  string        `json:"exit_log,omitempty"`
	PeakRSS  int64         `json:"peak_rss_bytes"` // of the server process, over this run alone
	CPU      *cpuUse       `json:"cpu,omitempty"`  // over the measured phase
	Failures []string      `json:"failures,omitempty"`
}

func (r *runResult) label() string { return r.name() + "/" + r.Store }

// name is the run's name, with its rate for a paced run: "paced@1000".
func (r *runResult) name() string {
	if r.Rate > 0 {
		return fmt.Sprintf("%s@%g", r.Run, r.Rate)
	}
	return r.Run
}

// delivers tells whether the run waits for deliveries, so that lost ones
// fail it.
func (r *runResult) delivers() bool {
	return relayRuns[r.Run] != "" || isRelay(r.Run) || isPaced(r.Run)
}

// serverRedisCPU is the run's server and its Redis's CPU per event, in µs;
// 0 without a measure.
func (r *runResult) serverRedisCPU() float64 {
	if r.CPU == nil {
		return 0
	}
	return r.CPU.each(r.CPU.Server) + r.CPU.each(r.CPU.Redis)
}

// isRelay tells whether run is one of the lean relay's closed-loop runs,
// those the ×relay column divides by (relay-paced and relay-paced-always
// are divided by in the paced table instead).
func isRelay(run string) bool {
	return run == runRelaySustained || run == runRelayDrain || run == runRelayFanout
}

// relayRun is the lean relay run r's deliveries are divided by: its
// counterpart for a gateway run, itself for a relay run, "" for none.
func (r *runResult) relayRun() string {
	if isRelay(r.Run) {
		return r.Run
	}
	return relayRuns[r.Run]
}

// finish derives the rates and totals and lists what makes the run fail.
func (r *runResult) finish() {
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if r.Load != nil {
		r.IngestRPS = loadgen.PerSecond(r.Load.Accepted, r.Load.Elapsed)
		r.IngestEPS = loadgen.PerSecond(r.Load.AcceptedEvents, r.Load.Elapsed)
		if r.Load.Accepted == 0 {
			fail("no request was accepted (first error: %q, codes: %s)", r.Load.FirstError, loadgen.FormatCodes(r.Load.Codes))
		}
	}
	r.DeliveriesPS = loadgen.PerSecond(int(r.Deliveries), r.DeliverySpan)
	for _, s := range r.Sinks {
		r.Lost += s.Lost
		r.Duplicates += s.Duplicates
		r.Verified += s.Verified
		r.BadSignatures += s.BadSignatures
		r.Malformed += s.Malformed
		r.Unaccepted += s.Unaccepted
	}
	if r.Lost > 0 {
		fail("%d accepted event deliveries never arrived within the wait", r.Lost)
	}
	if r.HeldDelivered > 0 {
		fail("%d deliveries arrived while the subscriber was paused", r.HeldDelivered)
	}
	if r.BadSignatures > 0 {
		fail("%d sampled deliveries had a bad Standard Webhooks signature", r.BadSignatures)
	}
	if r.Malformed > 0 {
		fail("%d deliveries were not envelopes of the events sent", r.Malformed)
	}
	if r.ExitCode == nil || *r.ExitCode != 0 {
		code := "none"
		if r.ExitCode != nil {
			code = fmt.Sprint(*r.ExitCode)
		}
		fail("exit code after SIGTERM was %s, want 0", code)
	}
}

// report is everything hookbench prints.
type report struct {
	Machine loadgen.Machine `json:"machine"`
	Options options         `json:"options"`
	// Of is, for the medians (summarize), the number of repetitions they
	// are the medians of; 0 for one repetition's report.
	Of       int     `json:"median_of,omitempty"`
	Floor    float64 `json:"floor_req_per_s"` // what every ratio divides by
	FloorCPU *cpuUse `json:"-"`
	// Relay is the lean relay's deliveries/s by run (relay-sustained,
	// relay-drain, relay-fanout): what each ×relay divides by.
	Relay    map[string]float64 `json:"relay_deliveries_per_s,omitempty"`
	Runs     []*runResult       `json:"runs"`
	Failures []string           `json:"failures,omitempty"`
}

func newReport(o options) *report {
	return &report{Machine: loadgen.ThisMachine(), Options: o}
}

// add appends runs, and sets their ratios to the floor and to the relay
// runs made so far.
func (rep *report) add(runs ...*runResult) {
	for _, r := range runs {
		if r.Run == runFloor {
			rep.Floor, rep.FloorCPU = r.IngestRPS, r.CPU
		}
		if isRelay(r.Run) && r.DeliveriesPS > 0 {
			if rep.Relay == nil {
				rep.Relay = map[string]float64{}
			}
			rep.Relay[r.Run] = r.DeliveriesPS
		}
		rep.Runs = append(rep.Runs, r)
		for _, f := range r.Failures {
			rep.Failures = append(rep.Failures, r.label()+": "+f)
		}
	}
	// relay-paced's and relay-paced-always's server + Redis µs per event,
	// by rate
	pacedCPU, alwaysCPU := map[float64]float64{}, map[float64]float64{}
	for _, r := range rep.Runs {
		switch r.Run {
		case runRelayPaced:
			pacedCPU[r.Rate] = r.serverRedisCPU()
		case runRelayPacedAlways:
			alwaysCPU[r.Rate] = r.serverRedisCPU()
		}
	}
	for _, r := range rep.Runs {
		if relay := rep.Relay[r.relayRun()]; relay > 0 {
			r.RelayRatio = r.DeliveriesPS / relay
		}
		if !isPaced(r.Run) {
			continue
		}
		if base := pacedCPU[r.Rate]; base > 0 {
			r.PacedCPURatio = r.serverRedisCPU() / base
		}
		if base := alwaysCPU[r.Rate]; base > 0 {
			r.PacedAlwaysCPURatio = r.serverRedisCPU() / base
		}
	}
	if rep.Floor == 0 {
		return
	}
	for _, r := range rep.Runs {
		r.IngestRatio = r.IngestEPS / rep.Floor
		if r.Run == runFloor {
			r.IngestRatio = r.IngestRPS / rep.Floor
		}
		r.DeliveryRatio = r.DeliveriesPS / rep.Floor
	}
}

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (rep *report) writeText(w io.Writer) error {
	m, o := rep.Machine, rep.Options
	rate := "closed loop"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%.0f req/s", o.Rate)
	}
	fmt.Fprintf(w, "machine: %d cores, %s, GOMAXPROCS %d, %s, %s\n", m.Cores, m.CPU, m.GOMAXPROCS, m.OS, m.Go)
	if rep.Of == 1 {
		fmt.Fprintf(w, "figures: one repetition (-repeat 1), no medians\n")
	}
	if rep.Of > 1 {
		fmt.Fprintf(w, "figures: medians of %d repetitions of the whole sequence, made in turn, each repetition's ratios to its own floor and relay;\n", rep.Of)
		fmt.Fprintf(w, "         (min–max) over the repetitions beside the ratios; lost and bad sig: the worst repetition's\n")
	}
	fmt.Fprintf(w, "load:    %d requests per gateway run, %d for the floor, %d connections, gateway %s, cap %v per send phase\n", o.Requests, o.FloorN, o.Concurrency, rate, o.Duration)
	fmt.Fprintf(w, "         gateway: %.0f%% catalog360 batches of %d, the rest iimmpact single events; floor: iimmpact only\n", o.Mix*100, o.Batch)
	if slices.ContainsFunc(rep.Runs, func(r *runResult) bool { return isPaced(r.Run) }) {
		var rates []string
		for _, rate := range o.Paced {
			rates = append(rates, fmt.Sprintf("%g req/s (%d requests)", rate, pacedRequests(rate, o.PacedFor)))
		}
		fmt.Fprintf(w, "paced:   %s, each for %v, 1 subscriber\n", strings.Join(rates, ", "), o.PacedFor)
	}
	fmt.Fprintf(w, "floor:   Fiber handler, HMAC check, one Redis XADD per request, closed loop: %.0f req/s; every ×floor divides by it\n", rep.Floor)
	if len(rep.Relay) > 0 {
		var rs []string
		for _, run := range []string{runRelaySustained, runRelayDrain, runRelayFanout} {
			if v, ok := rep.Relay[run]; ok {
				rs = append(rs, fmt.Sprintf("%s %.0f", strings.TrimPrefix(run, "relay-"), v))
			}
		}
		fmt.Fprintf(w, "relay:   the floor's ingest + one consumer group per subscriber, XREADGROUP 64, 64 POSTs in flight, XACK on 2xx,\n")
		fmt.Fprintf(w, "         the floor's requests: %s deliveries/s; ×relay divides the matching run by it\n", strings.Join(rs, ", "))
	}
	inFlight := fmt.Sprintf("%d (the gateway's default)", config.DefaultMaxInFlight)
	if o.MaxInFlight > 0 {
		inFlight = fmt.Sprint(o.MaxInFlight)
	}
	fmt.Fprintf(w, "sinks:   count every delivery by its event; signature and envelope checked on 1 in %d; max_in_flight %s\n\n", o.VerifyEvery, inFlight)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	table := func(head []string, cells func(r *runResult) []string) {
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		for _, r := range rep.Runs {
			fmt.Fprintln(tw, strings.Join(cells(r), "\t")+"\t")
		}
		fmt.Fprintln(tw)
	}
	table([]string{left("run"), left("store"), "subs", "events", "ingest/s", "×floor", "delivered/s", "×floor", "×relay", "peak RSS", "lost", "dups", "checked", "bad sig"},
		func(r *runResult) []string {
			events, subs := "-", "-"
			if r.Load != nil {
				events = fmt.Sprint(r.Load.AcceptedEvents)
			} else if r.Backlog > 0 {
				events = fmt.Sprint(r.Backlog)
			}
			if r.Subscribers > 0 {
				subs = fmt.Sprint(r.Subscribers)
			}
			ingest, ingestX := "-", "-"
			if r.Load != nil {
				rate := r.IngestEPS
				if r.Run == runFloor {
					rate = r.IngestRPS
				}
				ingest, ingestX = fmt.Sprintf("%.0f", rate), ratioSpan(r.IngestRatio, r.IngestRange)
			}
			deliv, delivX, relayX := "-", "-", "-"
			if r.delivers() {
				deliv, delivX, relayX = fmt.Sprintf("%.0f", r.DeliveriesPS), ratioSpan(r.DeliveryRatio, r.DeliveryRange), ratioSpan(r.RelayRatio, r.RelayRange)
			}
			if isPaced(r.Run) { // sent at a fixed rate: its rates say nothing against the floor's
				ingestX, delivX = "-", "-"
			}
			lost, dups, checked, bad := "-", "-", "-", "-"
			if r.delivers() {
				lost, dups, checked, bad = fmt.Sprint(r.Lost), fmt.Sprint(r.Duplicates), fmt.Sprint(r.Verified), fmt.Sprint(r.BadSignatures)
			}
			return []string{left(r.name()), left(r.Store), subs, events, ingest, ingestX, deliv, delivX, relayX, mb(r.PeakRSS), lost, dups, checked, bad}
		})
	table([]string{left("run"), left("store"), "accepted", "non-200", "errors", "send", "deliver", "ingest p50 / p99 / max", "end-to-end p50 / p99 / max", "exit"},
		func(r *runResult) []string {
			accepted, codes, errs, send, ingest := "-", "-", "-", "-", "-"
			if l := r.Load; l != nil {
				accepted = fmt.Sprintf("%d/%d", l.Accepted, l.Sent)
				codes, errs = loadgen.FormatCodes(l.Codes), fmt.Sprint(l.Errors)
				send, ingest = l.Elapsed.Round(time.Millisecond).String(), triple(l.Latency)
			}
			deliver, e2e := "-", "-"
			if r.delivers() {
				deliver = r.DeliverySpan.Round(time.Millisecond).String()
			}
			if r.E2E != nil {
				e2e = triple(*r.E2E)
			}
			exit := "-"
			if r.ExitCode != nil {
				exit = fmt.Sprintf("%d in %v", *r.ExitCode, r.ExitTook.Round(time.Millisecond))
			}
			return []string{left(r.name()), left(r.Store), accepted, codes, errs, send, deliver, ingest, e2e, exit}
		})
	fc := rep.FloorCPU
	table([]string{left("run"), left("store"), "cpu µs/event:", "gateway", "×floor", "redis", "×floor", "bench", "busy"},
		func(r *runResult) []string {
			c := r.CPU
			if c == nil {
				return []string{left(r.name()), left(r.Store), "", "-", "-", "-", "-", "-", "-"}
			}
			redis, redisX := "-", "-"
			if c.Redis > 0 {
				redis, redisX = fmt.Sprintf("%.1f", c.each(c.Redis)), costRatio(c.each(c.Redis), fc.each(fc.Redis))
			}
			return []string{left(r.name()), left(r.Store), "",
				fmt.Sprintf("%.1f", c.each(c.Server)), costRatio(c.each(c.Server), fc.each(fc.Server)),
				redis, redisX, fmt.Sprintf("%.1f", c.each(c.Bench)), fmt.Sprintf("%.0f%%", 100*c.busy(rep.Machine.Cores))}
		})
	paced := slices.DeleteFunc(slices.Clone(rep.Runs), func(r *runResult) bool { return !isPaced(r.Run) })
	slices.SortStableFunc(paced, func(a, b *runResult) int { return cmp.Compare(a.Rate, b.Rate) })
	if len(paced) > 0 {
		fmt.Fprintln(tw, strings.Join([]string{"req/s", left("paced run"), left("store"), "delivered/s", "end-to-end p50 / p99 / max",
			"server+redis µs/event", "×relay-paced", "×relay-always", "peak RSS"}, "\t")+"\t")
		for _, r := range paced {
			e2e, cpu := "-", "-"
			if r.E2E != nil {
				e2e = triple(*r.E2E)
			}
			if r.CPU != nil {
				cpu = fmt.Sprintf("%.1f", r.serverRedisCPU())
			}
			fmt.Fprintln(tw, strings.Join([]string{fmt.Sprintf("%g", r.Rate), left(r.Run), left(r.Store), fmt.Sprintf("%.0f", r.DeliveriesPS), e2e,
				cpu, ratioSpan(r.PacedCPURatio, r.PacedCPURange), ratioSpan(r.PacedAlwaysCPURatio, r.PacedAlwaysCPURange), mb(r.PeakRSS)}, "\t")+"\t")
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	var versions []string
	for _, r := range rep.Runs {
		if r.Version != "" && !slices.Contains(versions, r.Version) {
			versions = append(versions, r.Version)
		}
	}
	for _, v := range versions {
		fmt.Fprintf(w, "gateway: %s\n", v)
	}
	fmt.Fprintln(w, "held: subscriber paused before sending, ingest only; drain: after held, a new gateway process, from resume to the last arrival;")
	fmt.Fprintln(w, "sustained, fanout: ingest and delivery together, from the first send to the last arrival.")
	fmt.Fprintln(w, "relay-*: the lean relay on its own Redis, measured as its gateway counterpart (relay-drain: its backlog written with delivery off).")
	if len(paced) > 0 {
		fmt.Fprintln(w, "relay-paced, paced: relay-sustained and sustained sent at a fixed rate; relay-paced-always, paced-always: the same on")
		fmt.Fprintln(w, "     Redis at appendfsync always, the gateway's zero-loss setting (the embedded store fsyncs every commit), so that the")
		fmt.Fprintln(w, "     gateway's zero-loss runs have a relay of the same durability to compare with; ×relay-paced, ×relay-always:")
		fmt.Fprintln(w, "     (server + its Redis) CPU per event over relay-paced's, relay-paced-always's, at the same rate; lower is better.")
	}
	fmt.Fprintln(w, "peak RSS: the server process's high-water resident memory (VmHWM) over that run alone.")
	fmt.Fprintln(w, "cpu: CPU time per event (floor: per request; drain: per delivery) of the gateway (floor, relay-*: their server), its Redis and")
	fmt.Fprintln(w, "     this process (load generator, sinks); ×floor: to the floor's own (here more is costlier); busy: of all cores.")
	if o.Rate == 0 && slices.ContainsFunc(rep.Runs, func(r *runResult) bool { return r.E2E != nil && !isPaced(r.Run) }) {
		fmt.Fprintln(w, "end-to-end: sent closed loop, so it includes the delivery backlog; the paced runs (and -rate) measure it at a given load.")
	}
	for _, r := range rep.Runs {
		if r.ExitLog != "" {
			fmt.Fprintf(w, "%s log ends:\n%s\n", r.label(), r.ExitLog)
		}
	}
	if len(rep.Failures) == 0 {
		fmt.Fprintln(w, "PASS: nothing lost, nothing delivered while paused, every sampled signature valid")
		return nil
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "FAIL:", f)
	}
	return nil
}

// costRatio is a cost to the floor's, or "-" without one.
func costRatio(v, floor float64) string {
	if floor <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", v/floor)
}

// left pads a name so that it reads left-aligned in the right-aligned
// tables.
func left(s string) string { return fmt.Sprintf("%-9s", s) }

// ratio renders a figure's ratio to the floor, "-" without a floor.
func ratio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
}

// ratioSpan is ratio(x) with the range beside it, when there is one
// (a median's): "0.52× (0.49–0.55)".
func ratioSpan(x float64, sp *span) string {
	if x == 0 || sp == nil {
		return ratio(x)
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", x, sp.Min, sp.Max)
}

// mb renders bytes as whole megabytes, "-" for unknown.
func mb(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d MB", b>>20)
}

// triple renders p50 / p99 / max.
func triple(s loadgen.Summary) string {
	if s.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", short(s.P50), short(s.P99), short(s.Max))
}

// short rounds a latency to three significant figures or so.
func short(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
