package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What watches the gateway while a fault runs, besides the provider load:
// its memory and goroutines, and its admin API.

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
	_, b, err := g.scrape(c, g.token)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(b, "\n") {
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
