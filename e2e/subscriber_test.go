package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// envelope is the CloudEvents document a subscriber receives (SPEC 4).
type envelope struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	// The CloudEvents distributed-tracing extension (SPEC 4).
	TraceParent string `json:"traceparent"`
	TraceState  string `json:"tracestate"`
	Data        struct {
		Object   json.RawMessage `json:"object"`
		Previous json.RawMessage `json:"previous"`
	} `json:"data"`
}

// received is one envelope as a subscriber got it.
type received struct {
	env    envelope
	header http.Header
}

// subscriberMode is how a recorder answers, whatever its script says.
type subscriberMode int

const (
	up        subscriberMode = iota // answer the script, then 200
	down503                         // answer 503 to everything
	downClose                       // close the connection without answering
)

// recorder is a subscriber: an httptest server that verifies every request
// with the official Standard Webhooks library, once per configured secret,
// and records what it got by webhook-id. What it finds wrong is reported
// when the test ends.
type recorder struct {
	t       *testing.T
	name    string
	srv     *httptest.Server
	secrets []string
	hooks   []*standardwebhooks.Webhook

	mu        sync.Mutex
	mode      subscriberMode
	script    []int         // codes to answer next, in order
	delay     time.Duration // before answering, to keep deliveries in flight
	requests  int
	answers   map[string][]int      // webhook-id -> codes answered (0: connection closed)
	delivered map[string][]received // webhook-id -> every 2xx-answered copy
	subjects  map[string]int        // subject -> 2xx-answered copies
	arrivals  []time.Time           // when each request came, in order
	problems  []string
}

// newRecorder starts a subscriber with nsecrets signing secrets (more than
// one: the gateway must sign with each, SPEC 4).
func newRecorder(t *testing.T, name string, nsecrets int) *recorder {
	t.Helper()
	r := &recorder{t: t, name: name, answers: map[string][]int{}, delivered: map[string][]received{}, subjects: map[string]int{}}
	for range nsecrets {
		s := newSecret(t)
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatalf("standardwebhooks.NewWebhook: %v", err)
		}
		r.secrets = append(r.secrets, s)
		r.hooks = append(r.hooks, wh)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, p := range r.problems {
			if i == 10 {
				t.Errorf("subscriber %s: ... and %d more problems", name, len(r.problems)-10)
				break
			}
			t.Errorf("subscriber %s: %s", name, p)
		}
	})
	return r
}

func (r *recorder) url() string { return r.srv.URL + "/hooks/" + r.name }

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.problem("read body: %v", err)
		return
	}
	id := req.Header.Get("webhook-id")
	for i, wh := range r.hooks {
		if err := wh.Verify(body, req.Header); err != nil {
			r.problem("%s: signature with secret #%d: %v (webhook-signature %q)", id, i+1, err, req.Header.Get("webhook-signature"))
		}
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		r.problem("%s: body is not an envelope: %v: %.200s", id, err, body)
	}
	if env.ID != id {
		r.problem("webhook-id %q, envelope id %q: want equal", id, env.ID)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		r.problem("%s: Content-Type %q, want application/cloudevents+json", id, ct)
	}
	if ua := req.Header.Get("User-Agent"); !strings.HasPrefix(ua, "hookgate/") {
		r.problem("%s: User-Agent %q, want hookgate/<version>", id, ua)
	}
	if req.Method != http.MethodPost {
		r.problem("%s: method %s, want POST", id, req.Method)
	}

	r.mu.Lock()
	r.requests++
	r.arrivals = append(r.arrivals, time.Now())
	mode, delay := r.mode, r.delay
	code := http.StatusOK
	if mode == up && len(r.script) > 0 {
		code, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			// The gateway gave up (timeout, shutdown): it sees no answer,
			// so this copy is not delivered.
			mode = downClose
		}
	}
	switch mode {
	case down503:
		code = http.StatusServiceUnavailable
	case downClose:
		code = 0
	}
	r.mu.Lock()
	r.answers[id] = append(r.answers[id], code)
	if code >= 200 && code < 300 {
		r.delivered[id] = append(r.delivered[id], received{env: env, header: req.Header.Clone()})
		r.subjects[env.Subject]++
	}
	r.mu.Unlock()

	if code == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		code = http.StatusServiceUnavailable
	}
	if code >= 300 && code < 400 {
		// Back to this very subscriber: a gateway that followed the
		// redirect would show up here as one more request.
		w.Header().Set("Location", r.url())
	}
	w.WriteHeader(code)
}

func (r *recorder) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// setMode switches the subscriber up or down.
func (r *recorder) setMode(m subscriberMode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
}

// answer scripts the codes of the next requests; after them, 200.
func (r *recorder) answer(codes ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, codes...)
}

// setDelay makes every answer wait d.
func (r *recorder) setDelay(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay = d
}

// copies is how many times id was delivered (answered 2xx).
func (r *recorder) copies(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered[id])
}

// answered is the codes answered to requests for id, in order.
func (r *recorder) answered(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.answers[id]...)
}

// requestCount is how many requests the subscriber has had.
func (r *recorder) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// counts returns the distinct events delivered and the extra copies.
func (r *recorder) counts() (distinct, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.delivered {
		distinct++
		duplicates += len(c) - 1
	}
	return distinct, duplicates
}

// all is the first delivered copy of every event.
func (r *recorder) all() map[string]received {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]received, len(r.delivered))
	for id, c := range r.delivered {
		m[id] = c[0]
	}
	return m
}

// find is the delivered envelope of the given type and subject.
func (r *recorder) find(typ, subject string) (received, bool) {
	for _, rc := range r.all() {
		if rc.env.Type == typ && rc.env.Subject == subject {
			return rc, true
		}
	}
	return received{}, false
}

// waitFor polls until cond holds, failing after timeout with what the last
// call of cond said was missing.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v: %s", what, timeout, detail)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitN waits until n distinct events have been delivered.
func (r *recorder) waitN(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("subscriber %s has %d events", r.name, n), func() (bool, string) {
		got, _ := r.counts()
		return got >= n, fmt.Sprintf("got %d distinct events, want %d", got, n)
	})
}

// waitIDs waits until every id has been delivered, failing with the ids
// still missing.
func (r *recorder) waitIDs(t testing.TB, ids []string, timeout time.Duration) {
	t.Helper()
	r.waitKeys(t, "ids", ids, r.copies, timeout)
}

// waitSubjects waits until an event of every subject has been delivered,
// failing with the subjects still missing.
func (r *recorder) waitSubjects(t testing.TB, subjects []string, timeout time.Duration) {
	t.Helper()
	r.waitKeys(t, "subjects", subjects, r.subjectCopies, timeout)
}

// subjectCopies is how many envelopes of subject were delivered.
func (r *recorder) subjectCopies(subject string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subjects[subject]
}

func (r *recorder) waitKeys(t testing.TB, what string, keys []string, copies func(string) int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("subscriber %s has all %d %s", r.name, len(keys), what), func() (bool, string) {
		var missing []string
		for _, k := range keys {
			if copies(k) == 0 {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		if len(missing) > 20 {
			return false, fmt.Sprintf("%d missing, first 20: %v", len(missing), missing[:20])
		}
		return len(missing) == 0, fmt.Sprintf("%d missing: %v", len(missing), missing)
	})
}
