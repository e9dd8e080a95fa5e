package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// benchConcurrency is how many Put callers per CPU run at once, standing in
// for concurrent ingest requests.
const benchConcurrency = 32

// fsyncModes are the appendfsync settings benchmarked: always (testredis's,
// the durable one) and everysec (Redis's usual default).
var fsyncModes = []string{"always", "everysec"}

// BenchmarkPut stores one event with one subscriber per op from many
// goroutines at once, as concurrent ingest requests do. Compare with
// BenchmarkBareSet under the same appendfsync.
func BenchmarkPut(b *testing.B) {
	for _, mode := range fsyncModes {
		b.Run("appendfsync="+mode, func(b *testing.B) {
			srv := testredis.Start(b)
			s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "bench"}})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.rdb.ConfigSet(context.Background(), "appendfsync", mode).Err(); err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"specversion":"1.0","type":"iimmpact.product.updated","data":{"object":{` +
				strings.Repeat(`"k":"v",`, 50) + `"id":"CELCOM10"}}}`)
			recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			var n atomic.Int64
			parallel(b, func() error {
				i := n.Add(1)
				ev := gateway.NewEvent{
					Envelope:    gateway.Envelope{ID: fmt.Sprintf("evt_%d", i), Source: "iimmpact", Type: "iimmpact.product.updated", Subject: "product/CELCOM10"},
					Body:        body,
					ReceivedAt:  recv.Add(time.Duration(i) * time.Microsecond),
					Subscribers: []string{"search-indexer"},
				}
				_, err := s.Put(context.Background(), []gateway.NewEvent{ev})
				return err
			})
		})
	}
}

// BenchmarkBareSet is the yardstick: one plain SET of a body per op, no
// coalescing, from as many goroutines as BenchmarkPut.
func BenchmarkBareSet(b *testing.B) {
	for _, mode := range fsyncModes {
		b.Run("appendfsync="+mode, func(b *testing.B) {
			srv := testredis.Start(b)
			opts, err := redis.ParseURL(srv.URL())
			if err != nil {
				b.Fatal(err)
			}
			rdb := redis.NewClient(opts)
			defer rdb.Close()
			if err := rdb.ConfigSet(context.Background(), "appendfsync", mode).Err(); err != nil {
				b.Fatal(err)
			}
			body := []byte(strings.Repeat("x", 500))
			var n atomic.Int64
			parallel(b, func() error {
				return rdb.Set(context.Background(), fmt.Sprintf("bare:%d", n.Add(1)), body, 0).Err()
			})
		})
	}
}

// parallel runs op b.N times from benchConcurrency goroutines per CPU and
// reports events/s.
func parallel(b *testing.B, op func() error) {
	b.SetParallelism(benchConcurrency)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
