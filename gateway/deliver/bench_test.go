package deliver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// BenchmarkDeliver measures the engine end to end against a local sink:
// claim from a real store, sign, POST over loopback, record. b.N events
// are stored first (untimed); the timer runs until the last outcome is
// recorded. The number to watch is events/s.
func BenchmarkDeliver(b *testing.B) {
	for _, bk := range backends {
		for _, inflight := range []int{1, 16, 64} {
			b.Run(bk.name+"/inflight="+strconv.Itoa(inflight), func(b *testing.B) { benchDeliver(b, bk, inflight, nil) })
		}
	}
}

// benchDeliver runs BenchmarkDeliver's case; tweak, if set, changes the
// subscriber's config first.
func benchDeliver(b *testing.B, bk backend, inflight int, tweak func(*gateway.SubscriberConfig)) {
	st := bk.open(b)
	var got atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer sink.Close()

	now := time.Now()
	for left := b.N; left > 0; left -= 500 {
		putEvents(b, st, min(left, 500), now.Add(time.Duration(left)), "bench")
	}
	cfg := testSub("bench", sink.URL)
	cfg.MaxInFlight = inflight
	if tweak != nil {
		tweak(cfg)
	}
	e := New(st, map[string]*gateway.SubscriberConfig{"bench": cfg}, Options{
		Logger:       slog.New(slog.DiscardHandler),
		PollInterval: time.Millisecond,
	})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	e.Start(context.Background())
	for got.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	if err := e.Stop(context.Background()); err != nil { // waits for the last Record
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
