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
