package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// runResult is one benchmarked server: the baseline or the gateway on one
// store.
type runResult struct {
	Kind        string               `json:"kind"`  // "baseline" or "gateway"
	Store       string               `json:"store"` // "redis" or "embedded"
	Requests    int                  `json:"requests_planned"`
	Events      int                  `json:"events_planned"`
	Subscribers int                  `json:"subscribers,omitempty"`
	Version     string               `json:"version,omitempty"` // `hookgate version` of the binary measured
	Load        loadgen.LoadResult   `json:"ingest"`
	IngestRPS   float64              `json:"ingest_req_per_s"`    // accepted requests over the send phase
	IngestEPS   float64              `json:"ingest_events_per_s"` // accepted events over the send phase
	E2E         loadgen.Summary      `json:"end_to_end"`          // upstream POST start to sink receipt
	Sinks       []loadgen.SinkCounts `json:"sinks,omitempty"`

	Lost          int   `json:"lost"`
	Duplicates    int   `json:"duplicates"`
	BadSignatures int64 `json:"bad_signatures"`
	Malformed     int64 `json:"malformed"`
	Unaccepted    int   `json:"unaccepted_delivered"`

	Drain    time.Duration `json:"drain_ns"` // after the send phase, until the last event arrived
	Drained  bool          `json:"drained"`
	ExitCode *int          `json:"exit_code"` // after SIGTERM; nil if never stopped
	ExitTook time.Duration `json:"exit_took_ns"`
	ExitLog  string        `json:"exit_log,omitempty"`
	PeakRSS  int64         `json:"peak_rss_bytes"` // of the server process, over its whole run
	Failures []string      `json:"failures,omitempty"`
}

func (r *runResult) label() string { return r.Kind + "/" + r.Store }

// finish derives the rates and totals and lists what makes the run fail.
func (r *runResult) finish() {
	r.IngestRPS = loadgen.PerSecond(r.Load.Accepted, r.Load.Elapsed)
	r.IngestEPS = loadgen.PerSecond(r.Load.AcceptedEvents, r.Load.Elapsed)
	for _, s := range r.Sinks {
		r.Lost += s.Lost
		r.Duplicates += s.Duplicates
		r.BadSignatures += s.BadSignatures
		r.Malformed += s.Malformed
		r.Unaccepted += s.Unaccepted
	}
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if r.Load.Accepted == 0 {
		fail("no request was accepted (first error: %q, codes: %s)", r.Load.FirstError, loadgen.FormatCodes(r.Load.Codes))
	}
	if r.Lost > 0 {
		fail("%d accepted event deliveries never arrived within the drain time", r.Lost)
	}
	if r.BadSignatures > 0 {
		fail("%d deliveries had a bad Standard Webhooks signature", r.BadSignatures)
	}
	if r.Malformed > 0 {
		fail("%d deliveries were not envelopes of the events sent", r.Malformed)
	}
	if r.ExitCode == nil || *r.ExitCode != 0 {
		code := "none"
		if r.ExitCode != nil {
			code = fmt.Sprint(*r.ExitCode)
		}
		fail("%s exit code after SIGTERM was %s, want 0", r.Kind, code)
	}
}

// report is everything hookbench prints.
type report struct {
	Machine  loadgen.Machine    `json:"machine"`
	Options  options            `json:"options"`
	Runs     []*runResult       `json:"runs"`
	Ratios   map[string]float64 `json:"gateway_to_baseline_req_per_s,omitempty"`
	Failures []string           `json:"failures,omitempty"`
}

func newReport(o options) *report {
	return &report{Machine: loadgen.ThisMachine(), Options: o, Ratios: map[string]float64{}}
}

func (rep *report) add(r *runResult) {
	rep.Runs = append(rep.Runs, r)
	for _, f := range r.Failures {
		rep.Failures = append(rep.Failures, r.label()+": "+f)
	}
	var base *runResult
	for _, b := range rep.Runs {
		if b.Kind == "baseline" {
			base = b
		}
	}
	if base == nil || base.IngestRPS == 0 {
		return
	}
	for _, g := range rep.Runs {
		if g.Kind == "gateway" {
			rep.Ratios[g.Store] = g.IngestRPS / base.IngestRPS
		}
	}
}

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (rep *report) writeText(w io.Writer) error {
	m, o := rep.Machine, rep.Options
	rate := "unlimited"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%.0f req/s", o.Rate)
	}
	fmt.Fprintf(w, "machine: %d cores, %s, GOMAXPROCS %d, %s, %s\n", m.Cores, m.CPU, m.GOMAXPROCS, m.OS, m.Go)
	fmt.Fprintf(w, "load:    %d requests, concurrency %d, rate %s, cap %v per run\n", o.Requests, o.Concurrency, rate, o.Duration)
	fmt.Fprintf(w, "gateway: %.0f%% catalog360 batches of %d, the rest iimmpact single events; %d verifying subscriber(s)\n", o.Mix*100, o.Batch, o.Subscribers)
	fmt.Fprintf(w, "baseline: the same generator, iimmpact only; Fiber handler, HMAC check, one Redis SET\n\n")

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, cell func(r *runResult) string) {
		cells := []string{fmt.Sprintf("%-28s", name)}
		for _, r := range rep.Runs {
			cells = append(cells, cell(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	gw := func(f func(r *runResult) string) func(r *runResult) string {
		return func(r *runResult) string {
			if r.Kind != "gateway" {
				return "-"
			}
			return f(r)
		}
	}
	row("", func(r *runResult) string { return r.label() })
	row("requests sent", func(r *runResult) string { return fmt.Sprint(r.Load.Sent) })
	row("requests accepted (200)", func(r *runResult) string { return fmt.Sprint(r.Load.Accepted) })
	row("events accepted", func(r *runResult) string { return fmt.Sprint(r.Load.AcceptedEvents) })
	row("non-200 answers", func(r *runResult) string { return loadgen.FormatCodes(r.Load.Codes) })
	row("no answer (errors)", func(r *runResult) string { return fmt.Sprint(r.Load.Errors) })
	row("send phase", func(r *runResult) string { return r.Load.Elapsed.Round(time.Millisecond).String() })
	row("ingest req/s", func(r *runResult) string { return fmt.Sprintf("%.0f", r.IngestRPS) })
	row("ingest events/s", func(r *runResult) string { return fmt.Sprintf("%.0f", r.IngestEPS) })
	row("ingest p50 / p99 / max", func(r *runResult) string { return triple(r.Load.Latency) })
	row("end-to-end p50 / p99 / max", gw(func(r *runResult) string { return triple(r.E2E) }))
	row("deliveries received", gw(func(r *runResult) string { return fmt.Sprint(r.E2E.Count + r.Duplicates) }))
	row("drain after send", gw(func(r *runResult) string { return r.Drain.Round(time.Millisecond).String() }))
	row("lost", gw(func(r *runResult) string { return fmt.Sprint(r.Lost) }))
	row("duplicates", gw(func(r *runResult) string { return fmt.Sprint(r.Duplicates) }))
	row("bad signatures", gw(func(r *runResult) string { return fmt.Sprint(r.BadSignatures) }))
	row("peak RSS (server)", func(r *runResult) string { return fmt.Sprintf("%d MB", r.PeakRSS>>20) })
	row("exit after SIGTERM", func(r *runResult) string {
		if r.ExitCode == nil {
			return "-"
		}
		return fmt.Sprintf("%d in %v", *r.ExitCode, r.ExitTook.Round(time.Millisecond))
	})
	if len(rep.Ratios) > 0 {
		row("gateway / baseline req/s", gw(func(r *runResult) string { return fmt.Sprintf("%.2f", rep.Ratios[r.Store]) }))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range rep.Runs {
		if r.Version != "" {
			fmt.Fprintf(w, "%s: %s\n", r.label(), r.Version)
		}
	}
	if rep.Options.Rate == 0 && len(rep.Runs) > 0 && rep.Runs[len(rep.Runs)-1].Kind == "gateway" {
		fmt.Fprintln(w, "note: sent as fast as ingest answers, so end-to-end latency includes the delivery backlog; -rate measures it at a given load")
	}
	for _, r := range rep.Runs {
		if r.ExitLog != "" {
			fmt.Fprintf(w, "%s log ends:\n%s\n", r.label(), r.ExitLog)
		}
	}
	if len(rep.Failures) == 0 {
		fmt.Fprintln(w, "PASS: nothing lost, every signature valid")
		return nil
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "FAIL:", f)
	}
	return nil
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
