package loadgen

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Summary describes a set of latency samples.
type Summary struct {
	Count int           `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest sample that at least p percent of the samples do not
// exceed. It returns 0 for no samples. Nearest rank, not interpolation, so
// that every figure printed is a latency that was actually observed.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Summarize sorts samples in place and describes them.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	return Summary{
		Count: len(samples),
		Mean:  sum / time.Duration(len(samples)),
		P50:   Percentile(samples, 50),
		P90:   Percentile(samples, 90),
		P99:   Percentile(samples, 99),
		Max:   samples[len(samples)-1],
	}
}

// Recorder collects latency samples from many goroutines. Every sample is
// kept (8 bytes each): a bench run is bounded, and exact percentiles beat a
// histogram's buckets when the tail is what matters.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

// NewRecorder returns a Recorder with room for about n samples.
func NewRecorder(n int) *Recorder {
	return &Recorder{samples: make([]time.Duration, 0, n)}
}

// Add records one sample. Safe for concurrent use.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// AddAll records several samples at once, for workers that batch their own.
func (r *Recorder) AddAll(ds []time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, ds...)
	r.mu.Unlock()
}

// Summary describes the samples recorded so far.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summarize(slices.Clone(r.samples))
}

// Samples returns a copy of the samples recorded so far, in no order.
func (r *Recorder) Samples() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}
