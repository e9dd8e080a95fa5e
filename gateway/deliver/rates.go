package deliver

import (
	"sync"
	"time"
)

// The rates ring: per subscriber, this process's attempts over the last
// RateWindow, in buckets of RateBucket, for the dashboard's charts. It is
// fixed in size (two arrays of RateBuckets counters per subscriber), so it
// needs no bound beyond the number of subscribers.
const (
	// RateBucket is the width of one bucket.
	RateBucket = 10 * time.Second
	// RateBuckets is how many buckets are kept: 30 minutes of them.
	RateBuckets = 180
	// RateWindow is the span the buckets cover.
	RateWindow = RateBucket * RateBuckets
)

// RateSeries is one subscriber's attempts in this process, one count per
// RateBucket, oldest first; the last is the bucket now running. Failed
// counts the attempts that led to retrying or dead.
type RateSeries struct {
	Delivered []int64
	Failed    []int64
}

// Rates returns, for every subscriber the engine delivers to, its
// attempts in this process over the last RateWindow, up to now (by
// Options.Now); also for a subscriber removed from the config while its
// window holds an attempt, so that its charts keep what it went through
// (one added back goes on from there). Other gateways sharing the store
// keep their own.
func (e *Engine) Rates() map[string]RateSeries {
	now := e.opts.Now()
	e.mu.RLock()
	out := make(map[string]RateSeries, len(e.rings))
	var stale []string
	for name, r := range e.rings {
		s := r.series(now)
		if _, ok := e.subs[name]; !ok && s.empty() {
			stale = append(stale, name)
			continue
		}
		out[name] = s
	}
	e.mu.RUnlock()
	if len(stale) > 0 {
		// A removed subscriber's window has emptied: its ring goes, so
		// that the rings are bounded by the subscribers of the last
		// RateWindow. One back meanwhile (Update) keeps its ring.
		e.mu.Lock()
		for _, name := range stale {
			if _, ok := e.subs[name]; !ok {
				delete(e.rings, name)
			}
		}
		e.mu.Unlock()
	}
	return out
}

// ratesOf returns the subscriber's rates ring, a new one if it has none.
// Engine.rings holds the rings of the subscribers in Engine.subs and of
// removed ones while their window still holds an attempt (Rates drops
// them after), so that a removed subscriber's charts keep its history
// and one added back goes on from it.
// The caller holds e.mu for writing (or owns e, in New).
func (e *Engine) ratesOf(name string) *rateRing {
	r := e.rings[name]
	if r == nil {
		r = &rateRing{}
		e.rings[name] = r
	}
	return r
}

// empty reports whether the series counts no attempt.
func (s RateSeries) empty() bool {
	for k := range s.Delivered {
		if s.Delivered[k] != 0 || s.Failed[k] != 0 {
			return false
		}
	}
	return true
}

// rateRing counts attempts in RateBuckets buckets of RateBucket each. Its
// lock is the subscriber's own, held for a few additions: attempts to
// different subscribers never contend.
type rateRing struct {
	mu sync.Mutex
	// newest is the index (time / RateBucket) of the newest bucket; the
	// bucket of index i is at slot i % RateBuckets.
	newest            int64
	delivered, failed [RateBuckets]int64
}

func bucketOf(t time.Time) int64 { return t.UnixNano() / int64(RateBucket) }

// slotOf is where bucket i lives in the arrays.
func slotOf(i int64) int64 { return (i%RateBuckets + RateBuckets) % RateBuckets }

// add counts one attempt that ended at now.
func (r *rateRing) add(now time.Time, delivered bool) {
	i := bucketOf(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(i)
	// An attempt that ended just before one already counted goes in its
	// own bucket; one before the window (a clock that stepped back) in the
	// newest.
	if i <= r.newest-RateBuckets {
		i = r.newest
	}
	slot := slotOf(i)
	if delivered {
		r.delivered[slot]++
	} else {
		r.failed[slot]++
	}
}

// advance makes bucket i the newest, zeroing the buckets it skips over.
// The caller holds mu.
func (r *rateRing) advance(i int64) {
	if i <= r.newest {
		return
	}
	from := max(r.newest+1, i-RateBuckets+1)
	for j := from; j <= i; j++ {
		r.delivered[slotOf(j)] = 0
		r.failed[slotOf(j)] = 0
	}
	r.newest = i
}

// series copies the buckets up to now's, oldest first.
func (r *rateRing) series(now time.Time) RateSeries {
	s := RateSeries{Delivered: make([]int64, RateBuckets), Failed: make([]int64, RateBuckets)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(bucketOf(now))
	for k := range RateBuckets {
		slot := slotOf(r.newest - RateBuckets + 1 + int64(k))
		s.Delivered[k] = r.delivered[slot]
		s.Failed[k] = r.failed[slot]
	}
	return s
}
