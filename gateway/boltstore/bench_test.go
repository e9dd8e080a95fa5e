package boltstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// BenchmarkPut measures the ingest path: one event (a 1 KiB body, two
// subscribers) per Put, from many goroutines at once, each Put committed
// and fsynced before it returns. Concurrent callers share commits through
// the group commit, so events/s grows with the number of callers: there
// are SetParallelism x GOMAXPROCS of them (-cpu sets GOMAXPROCS).
func BenchmarkPut(b *testing.B) {
	for _, par := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", par), func(b *testing.B) {
			s, err := Open(gateway.StoreConfig{Path: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			body := make([]byte, 1024)
			for i := range body {
				body[i] = 'a' + byte(i%26)
			}
			var seq atomic.Int64
			recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					n := seq.Add(1)
					ev := gateway.NewEvent{
						Envelope: gateway.Envelope{ID: fmt.Sprintf("evt_%032d", n), Source: "iimmpact",
							Type: "iimmpact.product.updated", Subject: "product/X"},
						Body: body, ReceivedAt: recv.Add(time.Duration(n) * time.Millisecond),
						Subscribers: []string{"search-indexer", "pricing"},
					}
					if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkClaimRecord measures the delivery path: workers (as many as
// the parallelism gives) each claim one due delivery and record it
// delivered, two committed transactions per delivery.
func BenchmarkClaimRecord(b *testing.B) {
	s, err := Open(gateway.StoreConfig{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const chunk = 500
	for n := 0; n < b.N; n += chunk {
		evs := make([]gateway.NewEvent, 0, chunk)
		for i := n; i < n+chunk; i++ {
			evs = append(evs, gateway.NewEvent{Envelope: gateway.Envelope{ID: fmt.Sprintf("evt_%032d", i)},
				Body: []byte(`{}`), ReceivedAt: recv, Subscribers: []string{"sub-a"}})
		}
		if _, err := s.Put(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	now := recv.Add(time.Second)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cs, err := s.Claim(ctx, "sub-a", now, 1, time.Minute)
			if err != nil || len(cs) != 1 {
				b.Errorf("Claim = %d, %v", len(cs), err)
				return
			}
			o := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
			if err := s.Record(ctx, cs[0], o); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
