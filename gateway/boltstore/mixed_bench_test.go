package boltstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// BenchmarkGateway runs the store as the gateway does under load: 64
// ingest callers Put one event each (a 1 KiB body, the hashed ids the
// gateway makes, so inserts land all over the id-keyed trees) while one
// dispatcher claims up to 16 deliveries at a time and records each from
// its own goroutine. It measures events stored and delivered per second;
// b.N is the number of events.
func BenchmarkGateway(b *testing.B) {
	st, err := Open(gateway.StoreConfig{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	s := st.(*Store)
	defer s.Close()
	ctx := context.Background()
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	const callers, maxInFlight = 64, 16
	n := int64(b.N)
	var next, delivered atomic.Int64
	start := time.Now()
	b.ResetTimer()

	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= n; i = next.Add(1) {
				sum := sha256.Sum256([]byte(strconv.FormatInt(i, 10)))
				ev := gateway.NewEvent{
					Envelope: gateway.Envelope{ID: "evt_" + hex.EncodeToString(sum[:16]), Source: "iimmpact",
						Type: "iimmpact.product.updated", Subject: "product/X"},
					Body: body, ReceivedAt: start.Add(time.Duration(i) * time.Microsecond),
					Subscribers: []string{"sink-1"},
				}
				if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	ingested := make(chan time.Duration, 1)
	go func() { wg.Wait(); ingested <- time.Since(start) }()

	var inflight atomic.Int64
	freed := make(chan struct{}, 1)
	var sends sync.WaitGroup
	for delivered.Load() < n && !b.Failed() {
		slots := maxInFlight - int(inflight.Load())
		if slots <= 0 {
			<-freed
			continue
		}
		now := start.Add(time.Hour)
		cs, err := s.Claim(ctx, "sink-1", now, slots, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			inflight.Add(1)
			sends.Add(1)
			go func() {
				defer sends.Done()
				o := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
				if err := s.Record(ctx, c, o); err != nil {
					b.Error(err)
				}
				delivered.Add(1)
				inflight.Add(-1)
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
		}
		if len(cs) == 0 {
			time.Sleep(time.Millisecond) // nothing due yet: ingest is behind
		}
	}
	sends.Wait()
	el := time.Since(start)
	b.StopTimer()
	stats := s.db.Stats()
	b.ReportMetric(float64(n)/(<-ingested).Seconds(), "put/s")
	b.ReportMetric(float64(n)/el.Seconds(), "delivered/s")
	b.ReportMetric(float64(stats.TxStats.GetWrite())/float64(n), "pages/event")
	b.ReportMetric(float64(stats.TxStats.GetWrite())/float64(max(s.gc.commits.Load(), 1)), "pages/commit")
	b.ReportMetric(float64(s.gc.commits.Load())/el.Seconds(), "commits/s")
	commits := float64(max(s.gc.commits.Load(), 1))
	b.ReportMetric(float64(stats.TxStats.GetWriteTime().Microseconds())/commits, "write-µs/commit")
	b.ReportMetric(float64(stats.TxStats.GetSpillTime().Microseconds())/commits, "spill-µs/commit")
}
