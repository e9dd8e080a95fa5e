package loadgen

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Load is one timed send phase: a Generator's requests POSTed to one
// address by Concurrency workers, each with its own connection.
type Load struct {
	Addr        string // host:port of the ingest listener
	Gen         *Generator
	Concurrency int
	// Rate caps the send rate in requests per second; 0 sends as fast as the
	// server answers. Request i is not started before start + i/Rate.
	Rate float64
	// Duration caps the send phase; requests not started by then are not
	// sent. 0: no cap.
	Duration time.Duration
	// Timeout bounds each request's write and read.
	Timeout time.Duration
	// Now is the clock; time.Now outside tests.
	Now func() time.Time
}

// LoadResult is what the server answered during a Load.
type LoadResult struct {
	Sent           int           `json:"sent"`            // requests started
	Accepted       int           `json:"accepted"`        // answered 200
	AcceptedEvents int           `json:"accepted_events"` // events in those
	Codes          map[int]int   `json:"codes,omitempty"` // non-200 answers by status code
	Errors         int           `json:"errors"`          // no answer (connection error, timeout)
	FirstError     string        `json:"first_error,omitempty"`
	Started        time.Time     `json:"started"`    // when the send phase began, by Load.Now
	Elapsed        time.Duration `json:"elapsed_ns"` // first request start to last answer
	Latency        Summary       `json:"latency"`    // POST round trips, whatever the answer
	// AcceptedSeq tells, per bench_seq, whether its request was answered
	// 200; the sinks' Counts need it.
	AcceptedSeq []bool `json:"-"`
}

// Run sends the load and waits for every answer. ctx stops it early.
func (l Load) Run(ctx context.Context) LoadResult {
	n := l.Gen.Requests()
	conc := max(l.Concurrency, 1)
	client := &fasthttp.HostClient{
		Addr:                     l.Addr,
		MaxConns:                 conc,
		ReadTimeout:              l.Timeout,
		WriteTimeout:             l.Timeout,
		MaxConnWaitTimeout:       l.Timeout,
		NoDefaultUserAgentHeader: true,
	}
	defer client.CloseIdleConnections()

	status := make([]int32, n) // 0 not sent, -1 no answer, else the code
	lat := NewRecorder(n)
	var (
		next     atomic.Int64
		errOnce  sync.Once
		firstErr string
		wg       sync.WaitGroup
	)
	start := l.Now()
	var lastEnd atomic.Int64
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := l.Gen.NewStamper()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			mine := make([]time.Duration, 0, n/conc+1)
			defer func() { lat.AddAll(mine) }()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if l.Rate > 0 {
					due := start.Add(time.Duration(float64(i) / l.Rate * float64(time.Second)))
					if wait := due.Sub(l.Now()); wait > 0 {
						time.Sleep(wait)
					}
				}
				t0 := l.Now()
				if l.Duration > 0 && t0.Sub(start) >= l.Duration {
					return
				}
				path, body, h, v := st.Stamp(i, t0.UnixNano())
				req.Reset()
				req.SetRequestURI("http://" + l.Addr + path)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType("application/json")
				req.Header.SetBytesV(h, v)
				req.SetBodyRaw(body)
				err := client.Do(req, resp)
				t1 := l.Now()
				mine = append(mine, t1.Sub(t0))
				if err != nil {
					status[i] = -1
					errOnce.Do(func() { firstErr = err.Error() })
				} else {
					status[i] = int32(resp.StatusCode())
				}
				if end := t1.Sub(start).Nanoseconds(); end > lastEnd.Load() {
					casMax(&lastEnd, end)
				}
			}
		}()
	}
	wg.Wait()
	r := l.tally(status, lat, time.Duration(lastEnd.Load()), firstErr)
	r.Started = start
	return r
}

// casMax raises a to v unless it already holds more.
func casMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (l Load) tally(status []int32, lat *Recorder, elapsed time.Duration, firstErr string) LoadResult {
	r := LoadResult{Codes: map[int]int{}, Elapsed: elapsed, FirstError: firstErr, AcceptedSeq: make([]bool, l.Gen.Events())}
	for i, code := range status {
		switch code {
		case 0:
			continue
		case -1:
			r.Errors++
		case 200:
			r.Accepted++
			_, first, events := l.Gen.Request(i)
			r.AcceptedEvents += events
			for s := first; s < first+events; s++ {
				r.AcceptedSeq[s] = true
			}
		default:
			r.Codes[int(code)]++
		}
		r.Sent++
	}
	r.Latency = lat.Summary()
	return r
}

// PerSecond is count over d, 0 when d is 0.
func PerSecond(count int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(count) / d.Seconds()
}

// FormatCodes renders non-200 counts as "503×12 401×1", sorted by code,
// or "none".
func FormatCodes(codes map[int]int) string {
	if len(codes) == 0 {
		return "none"
	}
	keys := make([]int, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d×%d", k, codes[k])
	}
	return s
}
