package loadgen

import (
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is max", hundred, 100, 100 * time.Millisecond},
		{"tiny p is min", hundred, 0.001, 1 * time.Millisecond},
		{"p50 of four rounds up rank", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p51 of four", ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{"p99 of ten is max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p=%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	got := Summarize(ms(40, 10, 30, 20))
	want := Summary{Count: 4, Mean: 25 * time.Millisecond, P50: 20 * time.Millisecond,
		P90: 40 * time.Millisecond, P99: 40 * time.Millisecond, Max: 40 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if got := Summarize(nil); got != (Summary{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", got)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(0)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			for i := 1; i <= 100; i++ {
				r.Add(time.Duration(i))
			}
			r.AddAll([]time.Duration{1000})
			done <- struct{}{}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	s := r.Summary()
	if s.Count != 808 || s.Max != 1000 {
		t.Errorf("Summary = %+v, want count 808 max 1000", s)
	}
}

func TestFormatCodes(t *testing.T) {
	tests := []struct {
		codes map[int]int
		want  string
	}{
		{nil, "none"},
		{map[int]int{503: 12, 401: 1}, "401×1 503×12"},
	}
	for _, tt := range tests {
		if got := FormatCodes(tt.codes); got != tt.want {
			t.Errorf("FormatCodes(%v) = %q, want %q", tt.codes, got, tt.want)
		}
	}
}
