package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The provider side of a fault test: signed IIMMPACT events sent at full
// speed from several goroutines, every answer kept with its time, so that
// after the fault the test knows what was acknowledged (and so owed to
// every subscriber) and how the gateway answered while Redis misbehaved.

// loadSenders is how many provider connections send at once: enough to
// keep hundreds of deliveries queued and in flight on 2 cores.
const loadSenders = 32

// ingestBound is how long a provider waits for an answer. The gateway
// bounds its wait for the store (routes.Deps.StoreTimeout, 10s) and must
// answer 503 by then; 5s more covers reading the body and a busy machine.
// A request still unanswered after it is a hang.
const ingestBound = 15 * time.Second

// answer is the outcome of one provider request.
type answer struct {
	at         time.Time // when the answer (or the error) came
	took       time.Duration
	code       int    // 0: no HTTP answer (err says why)
	retryAfter string // the Retry-After header of the answer
	body       string // the start of a refusal's body
	err        error
}

// load sends distinct product events to a gateway until stopped.
type load struct {
	g      *gateway
	client *http.Client
	prefix string // of the event ids, so that runs never share one
	stopc  chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	next   atomic.Int64

	mu      sync.Mutex
	acked   []string // subjects of the events answered 200
	answers []answer // in the order they came
}

// startLoad starts loadSenders goroutines sending to g.
func startLoad(g *gateway, prefix string) *load {
	l := &load{
		g: g,
		client: &http.Client{
			Timeout: ingestBound,
			Transport: &http.Transport{
				MaxIdleConns:        loadSenders,
				MaxIdleConnsPerHost: loadSenders,
				IdleConnTimeout:     30 * time.Second,
			},
		},
		prefix: prefix,
		stopc:  make(chan struct{}),
	}
	for range loadSenders {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopc:
					return
				default:
				}
				if a := l.send(int(l.next.Add(1))); a.err != nil {
					// A gateway that is gone answers at once; pace the
					// retries of this sender a little rather than spin.
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	return l
}

// send posts the i-th event and records the answer.
func (l *load) send(i int) answer {
	id := fmt.Sprintf("%s%06d", l.prefix, i)
	body := product(id, i).body()
	req, err := http.NewRequest(http.MethodPost, l.g.url("/webhooks/iimmpact"), bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", signIimmpact(iimmpactSecret, body))
	start := time.Now()
	resp, err := l.client.Do(req)
	a := answer{err: err}
	if err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		a.code, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		if a.code != http.StatusOK {
			a.body = string(b)
		}
	}
	a.at = time.Now()
	a.took = a.at.Sub(start)
	l.mu.Lock()
	l.answers = append(l.answers, a)
	if a.code == http.StatusOK {
		l.acked = append(l.acked, "product/"+id)
	}
	l.mu.Unlock()
	return a
}

// stop ends the load and waits for the requests in flight to be answered.
// Calling it again does nothing, so that a test that failed halfway can
// defer it.
func (l *load) stop() {
	l.once.Do(func() {
		close(l.stopc)
		l.wg.Wait()
		l.client.CloseIdleConnections()
	})
}

// ackedCount is how many events were answered 200 so far.
func (l *load) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// ackedSubjects is the subjects of every event answered 200.
func (l *load) ackedSubjects() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}

// counts is how many requests were answered (or failed), and how many of
// them with 503.
func (l *load) counts() (answered, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.answers {
		if a.code == http.StatusServiceUnavailable {
			refused++
		}
	}
	return len(l.answers), refused
}

// first200After is when the first 200 came at or after t (zero: none yet).
func (l *load) first200After(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.answers {
		if a.code == http.StatusOK && !a.at.Before(t) {
			return a.at
		}
	}
	return time.Time{}
}

// verdict says what is wrong with an answer to a provider, "" if nothing:
// the gateway answers 200 (stored) or 503 with Retry-After (the provider
// retries, SPEC 3), and answers within ingestBound.
func (a answer) verdict() string {
	var ne net.Error
	switch {
	case a.err != nil && errors.As(a.err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %v (a hang)", ingestBound)
	case a.err != nil:
		return "no HTTP answer: " + shortErr(a.err)
	case a.code == http.StatusOK:
		return ""
	case a.code == http.StatusServiceUnavailable && a.retryAfter == "":
		return "503 without Retry-After"
	case a.code == http.StatusServiceUnavailable:
		if _, err := strconv.Atoi(a.retryAfter); err != nil {
			if _, err := http.ParseTime(a.retryAfter); err != nil {
				return fmt.Sprintf("503 with a Retry-After that is neither seconds nor an HTTP date: %q", a.retryAfter)
			}
		}
		return ""
	default:
		return fmt.Sprintf("status %d", a.code)
	}
}

// shortErr is an error without the request's URL, which varies by port
// and would keep alike errors apart.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// phaseOf names when an answer came relative to the fault.
func phaseOf(at, injected, healed time.Time) string {
	switch {
	case at.Before(injected):
		return "before"
	case at.Before(healed):
		return "during"
	default:
		return "after"
	}
}

// answerReport tallies the answers by phase and code, and lists what was
// wrong: each kind once, with its count, phases and first example.
func (l *load) answerReport(injected, healed time.Time) (tally string, wrong []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	type bad struct {
		n       int
		phases  map[string]int
		example answer
	}
	counts := map[string]map[string]int{"before": {}, "during": {}, "after": {}}
	bads := map[string]*bad{}
	var kinds []string
	var slowest time.Duration
	for _, a := range l.answers {
		ph := phaseOf(a.at, injected, healed)
		key := strconv.Itoa(a.code)
		if a.err != nil {
			key = "error"
		}
		counts[ph][key]++
		slowest = max(slowest, a.took)
		v := a.verdict()
		if v == "" {
			continue
		}
		b, ok := bads[v]
		if !ok {
			b = &bad{phases: map[string]int{}, example: a}
			bads[v] = b
			kinds = append(kinds, v)
		}
		b.n++
		b.phases[ph]++
	}
	var parts []string
	for _, ph := range []string{"before", "during", "after"} {
		parts = append(parts, fmt.Sprintf("%s %v", ph, counts[ph]))
	}
	tally = fmt.Sprintf("%s; slowest answer %v", strings.Join(parts, ", "), slowest.Round(time.Millisecond))
	for _, k := range kinds {
		b := bads[k]
		wrong = append(wrong, fmt.Sprintf("%d provider requests: %s (by phase %v; first at %s relative to the fault, body %q)",
			b.n, k, b.phases, b.example.at.Sub(injected).Round(time.Millisecond), b.example.body))
	}
	return tally, wrong
}

// sampler watches the gateway process while a fault runs: whether it is
// alive, and its resident memory and goroutines at their highest.
type sampler struct {
	g     *gateway
	stopc chan struct{}
	once  sync.Once
	done  chan struct{}

	mu            sync.Mutex
	peakRSS       int64
	peakGoroutine int64
}

// sampleEvery is how often the sampler looks: often enough to see a
// flood of goroutines that comes and goes with a fault of seconds.
const sampleEvery = 250 * time.Millisecond

func startSampler(g *gateway) *sampler {
	s := &sampler{g: g, stopc: make(chan struct{}), done: make(chan struct{})}
	metrics := &http.Client{Timeout: time.Second}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			if gone, _ := g.exited(); gone {
				return
			}
			rss, err := g.procStatus("VmRSS")
			n := goroutines(metrics, g)
			s.mu.Lock()
			if err == nil {
				s.peakRSS = max(s.peakRSS, rss)
			}
			s.peakGoroutine = max(s.peakGoroutine, n)
			s.mu.Unlock()
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peaks; the process's own
// high-water mark (VmHWM) counts too, as it sees what falls between two
// samples. Calling it again returns the same.
func (s *sampler) stop() (rss, goroutines int64) {
	s.once.Do(func() { close(s.stopc) })
	<-s.done
	if hwm, err := s.g.procStatus("VmHWM"); err == nil {
		s.mu.Lock()
		s.peakRSS = max(s.peakRSS, hwm)
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.peakGoroutine
}

// goroutines is go_goroutines from the gateway's /metrics, or 0 when the
// admin listener does not answer within a second (a scrape that waits on
// the store during a fault is a sample missed, not a failure).
func goroutines(c *http.Client, g *gateway) int64 {
	resp, err := c.Get("http://" + g.admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return 0
}

// adminProbe reads the admin API (GET /admin/api/subscribers, which reads
// the store) over and over while a fault runs, so that the admin path's
// answers and recovery are seen as the provider's are.
type adminProbe struct {
	g     *gateway
	stopc chan struct{}
	once  sync.Once
	done  chan struct{}

	mu      sync.Mutex
	answers []answer
}

func startAdminProbe(g *gateway) *adminProbe {
	p := &adminProbe{g: g, stopc: make(chan struct{}), done: make(chan struct{})}
	c := &http.Client{Timeout: ingestBound}
	go func() {
		defer close(p.done)
		for {
			req, _ := http.NewRequest(http.MethodGet, "http://"+g.admin+"/admin/api/subscribers", nil)
			req.Header.Set("Authorization", "Bearer "+g.token)
			start := time.Now()
			resp, err := c.Do(req)
			a := answer{err: err}
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
				resp.Body.Close()
				a.code = resp.StatusCode
				if a.code != http.StatusOK {
					a.body = string(b)
				}
			}
			a.at = time.Now()
			a.took = a.at.Sub(start)
			p.mu.Lock()
			p.answers = append(p.answers, a)
			p.mu.Unlock()
			select {
			case <-p.stopc:
				return
			case <-time.After(sampleEvery):
			}
		}
	}()
	return p
}

// stop ends the probing once the read under way is answered.
func (p *adminProbe) stop() {
	p.once.Do(func() { close(p.stopc) })
	<-p.done
}

// first200After is when the first 200 came at or after t (zero: none).
func (p *adminProbe) first200After(t time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.answers {
		if a.code == http.StatusOK && !a.at.Before(t) {
			return a.at
		}
	}
	return time.Time{}
}

// wrong lists the admin reads that were neither a 200 nor a 503 within
// ingestBound: the admin API may say the store is unavailable, but must
// say it.
func (p *adminProbe) wrong() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, a := range p.answers {
		if a.code == http.StatusOK || a.code == http.StatusServiceUnavailable {
			continue
		}
		what := fmt.Sprintf("status %d (%q)", a.code, a.body)
		if a.err != nil {
			what = "no answer: " + shortErr(a.err)
		}
		out = append(out, fmt.Sprintf("%s after %v", what, a.took.Round(time.Millisecond)))
	}
	return out
}
