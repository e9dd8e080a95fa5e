package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ingest is a real HTTP server that checks iimmpact signatures, answers
// them 200 and every catalog360 batch 503.
func ingest(t *testing.T, bad *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/webhooks/iimmpact":
			if r.Header.Get(IimmpactHeader) != SignIimmpact(body, []byte("ii-secret")) {
				bad.Add(1)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoadRunCounts(t *testing.T) {
	var bad atomic.Int64
	srv := ingest(t, &bad)
	g, err := NewGenerator(testPlan(300, 0.25, 4))
	if err != nil {
		t.Fatal(err)
	}
	res := Load{Addr: strings.TrimPrefix(srv.URL, "http://"), Gen: g, Concurrency: 8, Timeout: 10 * time.Second, Now: time.Now}.Run(context.Background())

	var wantOK, wantEvents, want503 int
	for i := 0; i < g.Requests(); i++ {
		kind, _, n := g.Request(i)
		if kind == Iimmpact {
			wantOK++
			wantEvents += n
		} else {
			want503++
		}
	}
	if bad.Load() != 0 {
		t.Errorf("%d requests failed the server's signature check", bad.Load())
	}
	if res.Sent != 300 || res.Accepted != wantOK || res.AcceptedEvents != wantEvents || res.Codes[503] != want503 || res.Errors != 0 {
		t.Errorf("result %+v, want 300 sent, %d accepted (%d events), %d×503, no errors", res, wantOK, wantEvents, want503)
	}
	accepted := 0
	for _, ok := range res.AcceptedSeq {
		if ok {
			accepted++
		}
	}
	if accepted != wantEvents || res.Latency.Count != 300 {
		t.Errorf("%d accepted seqs and %d latencies, want %d and 300", accepted, res.Latency.Count, wantEvents)
	}
}

func TestLoadRunDurationCap(t *testing.T) {
	var bad atomic.Int64
	srv := ingest(t, &bad)
	g, _ := NewGenerator(testPlan(10, 0, 1))
	// A clock that moves one second per reading, from a 19-digit start:
	// start=0s, req 0 at 1s..2s, req 1 at 3s..4s, req 2 would start at 5s.
	var tick atomic.Int64
	base := time.Unix(1700000000, 0)
	now := func() time.Time { return base.Add(time.Duration(tick.Add(1)-1) * time.Second) }
	res := Load{Addr: strings.TrimPrefix(srv.URL, "http://"), Gen: g, Concurrency: 1, Duration: 4500 * time.Millisecond, Timeout: 10 * time.Second, Now: now}.Run(context.Background())
	if res.Sent != 2 || res.Accepted != 2 {
		t.Errorf("sent %d accepted %d, want 2 and 2 under the duration cap", res.Sent, res.Accepted)
	}
	if res.Elapsed != 4*time.Second {
		t.Errorf("elapsed %v, want 4s by the injected clock", res.Elapsed)
	}
}

func TestLoadRunConnectionErrors(t *testing.T) {
	g, _ := NewGenerator(testPlan(3, 0, 1))
	res := Load{Addr: "127.0.0.1:1", Gen: g, Concurrency: 2, Timeout: time.Second, Now: time.Now}.Run(context.Background())
	if res.Errors != 3 || res.Accepted != 0 || res.FirstError == "" {
		t.Errorf("result %+v, want 3 errors and the first one named", res)
	}
}
