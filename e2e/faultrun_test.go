package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// One fault test (issue 14): the real gateway on Redis reached through
// fault proxies, four subscribers taking deliveries, providers sending at
// full speed; the fault is injected under that load, held, healed, and
// then the invariants are checked.

const (
	// faultSubscribers all take every product event, so every event
	// answered 200 is owed to each of them.
	faultSubscribers = 4
	// subscriberDelay and subscriberInFlight keep deliveries in flight:
	// up to 4×64 at once, each answered after 100ms as a busy consumer is.
	subscriberDelay    = 100 * time.Millisecond
	subscriberInFlight = 64
	// warmAcked is how many events are acknowledged before the fault, so
	// that it strikes with deliveries queued and in flight.
	warmAcked = 400
	// afterHeal is how long the load goes on once the first 200 after the
	// heal came, so that events stored after the fault must flow too.
	afterHeal = time.Second
	// recoveryBound is a liveness bound, not a timing target: a gateway
	// that has not answered 200, or not delivered, this long after Redis
	// is back has stalled.
	recoveryBound = 30 * time.Second
	// deliveryBound is how long the subscribers may take, once the load
	// stopped, to have every acknowledged event: a few thousand events at
	// a few thousand a second, and room for retries of a backoff's length.
	deliveryBound = 60 * time.Second
	// rssBound and goroutineBound are what "bounded" means here: generous
	// ceilings that a gateway holding its queues in bounds never nears,
	// and a leak per failed call or a queue without a bound passes.
	rssBound       = 400 << 20
	goroutineBound = 5000
)

// fault is one way Redis or the path to it misbehaves.
type fault struct {
	name string
	// topologies are the names of the topologies it applies to; nil: all.
	topologies []string
	// run injects the fault into e, holds it a few seconds, heals it, and
	// returns once it is healed (the time recovery is measured from).
	run func(t *testing.T, e *faultEnv)
}

func (f fault) appliesTo(topo string) bool {
	return f.topologies == nil || slices.Contains(f.topologies, topo)
}

// faultRow is one line of the matrix printed at the end of the run.
type faultRow struct {
	fault, topology   string
	acked             int
	lost              int // acknowledged events some subscriber never got
	duplicates        int // extra copies, all subscribers together
	to200, toFlow     time.Duration
	toAdmin           time.Duration // to the first admin read answered 200
	toAll             time.Duration // until every subscriber had every acknowledged event
	peakRSS           int64
	peakGoroutines    int64
	failed            bool
	refused, answered int // provider requests answered 503 / at all
}

var faultTable struct {
	sync.Mutex
	rows []faultRow
}

// printFaultTable writes the matrix of the faults run, if any (TestMain).
func printFaultTable(out io.Writer) {
	faultTable.Lock()
	defer faultTable.Unlock()
	if len(faultTable.rows) == 0 {
		return
	}
	dur := func(d time.Duration) string {
		if d < 0 {
			return "never"
		}
		return d.Round(10 * time.Millisecond).String()
	}
	fmt.Fprintln(out, "\nfault matrix (issue 14): recovery times from the heal; lost = acknowledged, not delivered to every subscriber")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\ttopology\trequests\t503s\tacked\tlost\tduplicates\tto first 200\tto deliveries\tto admin 200\tto all delivered\tpeak RSS\tpeak goroutines\tresult\t")
	for _, r := range faultTable.rows {
		result := "ok"
		if r.failed {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%dMB\t%d\t%s\t\n",
			r.fault, r.topology, r.answered, r.refused, r.acked, r.lost, r.duplicates,
			dur(r.to200), dur(r.toFlow), dur(r.toAdmin), dur(r.toAll), r.peakRSS>>20, r.peakGoroutines, result)
	}
	tw.Flush()
}

// runFault runs f on a fresh topo under load and checks the invariants.
func runFault(t *testing.T, topo topology, f fault) {
	env := topo.start(t)
	g, recs, held := faultWorld(t, env)
	env.gw = g
	row := faultRow{fault: f.name, topology: topo.name, to200: -1, toFlow: -1, toAdmin: -1, toAll: -1}
	defer func() {
		row.failed = t.Failed()
		faultTable.Lock()
		faultTable.rows = append(faultTable.rows, row)
		faultTable.Unlock()
	}()

	samp := startSampler(g)
	defer samp.stop()
	probe := startAdminProbe(g)
	defer probe.stop()
	l := startLoad(g, "F")
	defer l.stop()
	waitFor(t, deliveryBound, fmt.Sprintf("%d events acknowledged before the fault", warmAcked), func() (bool, string) {
		return l.ackedCount() >= warmAcked, fmt.Sprintf("%d acknowledged", l.ackedCount())
	})
	t.Logf("injecting %s: %d acknowledged, %d deliveries made of %d owed", f.name, l.ackedCount(), delivered(recs), faultSubscribers*l.ackedCount())

	injected := time.Now()
	f.run(t, env)
	healed := time.Now()
	t.Logf("healed after %v: %d acknowledged", healed.Sub(injected).Round(time.Millisecond), l.ackedCount())
	// The load goes on until the gateway answers 200 again, and a
	// little after, so that events stored after the fault are owed too.
	for time.Since(healed) < recoveryBound {
		if gone, _ := g.exited(); gone {
			break
		}
		if at := l.first200After(healed); !at.IsZero() && time.Since(at) >= afterHeal {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.stop()
	acked := l.ackedSubjects()
	lost := waitDelivered(g, recs, acked, deliveryBound)
	if len(lost) == 0 {
		row.toAll = time.Since(healed)
	}
	probe.stop()
	row.acked = len(acked)
	row.answered, row.refused = l.counts()
	if at := l.first200After(healed); !at.IsZero() {
		row.to200 = at.Sub(healed)
	}
	if at := probe.first200After(healed); !at.IsZero() {
		row.toAdmin = at.Sub(healed)
	}
	row.toFlow = flowingAfter(recs, healed)

	// The paused subscriber got nothing through the fault; resumed, it
	// gets everything (SPEC 5: pause holds in every gateway, and resume
	// releases all that was held).
	if n := held.requestCount(); n > 0 {
		t.Errorf("%s: the paused subscriber got %d requests before it was resumed, want none", f.name, n)
	}
	waitFor(t, recoveryBound, "resume answered 200", func() (bool, string) {
		code, err := g.adminDo(http.MethodPost, "/admin/api/subscribers/"+held.name+"/resume", nil)
		return err == nil && code == http.StatusOK, statusDetail(code, err)
	})
	all := slices.Concat(recs, []*recorder{held})
	lost = waitDelivered(g, all, acked, deliveryBound)
	row.lost = len(lost)

	// The process never exited.
	if gone, err := g.exited(); gone {
		t.Errorf("%s: the gateway exited (%v); its log:\n%s", f.name, err, faultLog(g.output()))
	}
	// Every acknowledged event reached every subscriber; duplicates are
	// counted, not failed (at-least-once).
	for _, r := range all {
		if missing := r.missing(acked); len(missing) > 0 {
			t.Errorf("subscriber %s: %d of %d acknowledged events not delivered within %v of the load's end (first: %v)",
				r.name, len(missing), len(acked), deliveryBound, missing[:min(5, len(missing))])
		}
		distinct, dup := r.counts()
		row.duplicates += dup
		t.Logf("subscriber %s: %d distinct events, %d duplicates, %d requests", r.name, distinct, dup, r.requestCount())
	}
	// The provider got 200, or 503 with Retry-After, never a hang.
	tally, wrong := l.answerReport(injected, healed)
	t.Logf("answers to the provider: %s", tally)
	for _, w := range wrong {
		t.Errorf("%s: %s", f.name, w)
	}
	// The admin API answered, 200 or 503, never hung.
	if wrong := probe.wrong(); len(wrong) > 0 {
		t.Errorf("%s: %d admin reads (GET /admin/api/subscribers) neither 200 nor 503 within %v, first: %s", f.name, len(wrong), ingestBound, wrong[0])
	}
	// Memory and goroutines bounded.
	row.peakRSS, row.peakGoroutines = samp.stop()
	if row.peakRSS > rssBound {
		t.Errorf("%s: gateway resident memory peaked at %dMB, want under %dMB", f.name, row.peakRSS>>20, rssBound>>20)
	}
	if row.peakGoroutines == 0 {
		t.Errorf("%s: no goroutine count: /metrics never answered within a second", f.name)
	} else if row.peakGoroutines > goroutineBound {
		t.Errorf("%s: gateway goroutines peaked at %d, want under %d", f.name, row.peakGoroutines, goroutineBound)
	}
	// Recovery from the heal: a liveness bound, the figures are printed.
	t.Logf("%s on %s: acked %d, lost %d, duplicates %d, first 200 after %s, deliveries after %s, admin 200 after %s, all delivered after %s, peak RSS %dMB, peak goroutines %d",
		f.name, topo.name, row.acked, row.lost, row.duplicates, fmtRecovery(row.to200), fmtRecovery(row.toFlow), fmtRecovery(row.toAdmin),
		fmtRecovery(row.toAll), row.peakRSS>>20, row.peakGoroutines)
	if row.to200 < 0 || row.to200 > recoveryBound {
		t.Errorf("%s: no 200 to the provider within %v of the heal", f.name, recoveryBound)
	}
	if row.toFlow < 0 || row.toFlow > recoveryBound {
		t.Errorf("%s: not every subscriber had a delivery within %v of the heal", f.name, recoveryBound)
	}
	if row.toAdmin < 0 || row.toAdmin > recoveryBound {
		t.Errorf("%s: no admin read answered 200 within %v of the heal", f.name, recoveryBound)
	}
	if t.Failed() {
		saveArtifact(t, "gateway.log", []byte(g.output()))
		t.Logf("gateway log lines of note:\n%s", faultLog(g.output()))
	}
}

// faultWorld starts a gateway on env's store with faultSubscribers
// subscribers taking every product event, each answering after
// subscriberDelay, and one more, held, paused before any event comes, so
// that every dispatcher's paused-flag read meets the fault too.
func faultWorld(t *testing.T, env *faultEnv) (g *gateway, recs []*recorder, held *recorder) {
	w := &world{t: t, dir: t.TempDir(), store: env.store, server: map[string]any{}, iimmpact: map[string]any{}, subscribers: map[string]any{}}
	recs = make([]*recorder, faultSubscribers)
	for i := range recs {
		name := fmt.Sprintf("s%d", i+1)
		recs[i] = newRecorder(t, name, 1)
		recs[i].setDelay(subscriberDelay)
		// A short timeout keeps the leases short (2×timeout+10s): a
		// delivery whose claim or record was cut comes due again within
		// them, and the test waits for it.
		w.subscribe(name, sub{rec: recs[i], maxInFlight: subscriberInFlight, timeout: "2s", events: []string{"iimmpact.product.*"}})
	}
	held = newRecorder(t, "held", 1)
	w.subscribe("held", sub{rec: held, maxInFlight: subscriberInFlight, timeout: "2s", events: []string{"iimmpact.product.*"}})
	g = w.start()
	if code, err := g.adminDo(http.MethodPost, "/admin/api/subscribers/held/pause", nil); err != nil || code != http.StatusOK {
		t.Fatalf("pause held: got %s, want 200", statusDetail(code, err))
	}
	return g, recs, held
}

// missing is the subjects of which r has no envelope.
func (r *recorder) missing(subjects []string) []string {
	var missing []string
	for _, s := range subjects {
		if r.subjectCopies(s) == 0 {
			missing = append(missing, s)
		}
	}
	return missing
}

func fmtRecovery(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

// delivered is how many deliveries the subscribers have taken so far.
func delivered(recs []*recorder) int {
	n := 0
	for _, r := range recs {
		distinct, dup := r.counts()
		n += distinct + dup
	}
	return n
}

// waitDelivered waits until every subscriber has an envelope of every
// subject, or the bound passes, or the gateway is gone; it returns the
// subjects some subscriber still lacks.
func waitDelivered(g *gateway, recs []*recorder, subjects []string, bound time.Duration) []string {
	deadline := time.Now().Add(bound)
	for {
		var missing []string
		for _, s := range subjects {
			for _, r := range recs {
				if r.subjectCopies(s) == 0 {
					missing = append(missing, s)
					break
				}
			}
		}
		gone, _ := g.exited()
		if len(missing) == 0 || gone || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// flowingAfter is how long after t every subscriber had a request of the
// gateway's again: deliveries flowing to all of them; -1 if one never did.
func flowingAfter(recs []*recorder, t time.Time) time.Duration {
	var worst time.Duration
	for _, r := range recs {
		r.mu.Lock()
		i, _ := slices.BinarySearchFunc(r.arrivals, t, func(a, t time.Time) int { return a.Compare(t) })
		var first time.Time
		if i < len(r.arrivals) {
			first = r.arrivals[i]
		}
		r.mu.Unlock()
		if first.IsZero() {
			return -1
		}
		worst = max(worst, first.Sub(t))
	}
	return worst
}

// faultLog is the gateway's log cut to what tells a fault's story: panics
// and their stacks, errors and warnings, each distinct message once with
// its count, so that thousands of alike lines read as one.
func faultLog(out string) string {
	if i := strings.Index(out, "panic:"); i >= 0 {
		return tail(out[i:], 60)
	}
	type seen struct {
		first string
		n     int
	}
	var order []string
	byMsg := map[string]*seen{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"level":"ERROR"`) && !strings.Contains(line, `"level":"WARN"`) &&
			!strings.Contains(line, "level=ERROR") && !strings.Contains(line, "level=WARN") {
			continue
		}
		key := logMsg(line)
		s, ok := byMsg[key]
		if !ok {
			s = &seen{first: line}
			byMsg[key] = s
			order = append(order, key)
		}
		s.n++
	}
	var b strings.Builder
	for i, k := range order {
		if i == 40 {
			fmt.Fprintf(&b, "[... %d more kinds of lines]\n", len(order)-40)
			break
		}
		s := byMsg[k]
		line := s.first
		if len(line) > 600 {
			line = line[:600] + "…"
		}
		fmt.Fprintf(&b, "%5d× %s\n", s.n, line)
	}
	return b.String()
}

// logMsg is a log line's message and error, without the time and the
// values that change from line to line.
func logMsg(line string) string {
	msg := fieldOf(line, "msg")
	errText := fieldOf(line, "error")
	// Addresses and ids differ from line to line; keep the words.
	var words []string
	for _, w := range strings.Fields(errText) {
		if strings.ContainsAny(w, "0123456789") {
			continue
		}
		words = append(words, w)
	}
	return msg + " | " + strings.Join(words, " ")
}

// fieldOf is the value of "key":"…" in a JSON log line.
func fieldOf(line, key string) string {
	_, after, ok := strings.Cut(line, `"`+key+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, `"`)
	return v
}
