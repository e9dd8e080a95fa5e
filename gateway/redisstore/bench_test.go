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

// BenchmarkPut stores one event with one subscriber per op from many
// goroutines at once, as concurrent ingest requests do, against a
// redis-server with appendfsync always. Compare with BenchmarkBareSet.
func BenchmarkPut(b *testing.B) {
	srv := testredis.Start(b)
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte(`{"specversion":"1.0","type":"iimmpact.product.updated","data":{"object":{` +
		strings.Repeat(`"k":"v",`, 50) + `"id":"CELCOM10"}}}`)
	recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var n atomic.Int64
	start := time.Now()
	b.SetParallelism(benchConcurrency)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("evt_%d", n.Add(1))
			ev := gateway.NewEvent{
				Envelope:    gateway.Envelope{ID: id, Source: "iimmpact", Type: "iimmpact.product.updated", Subject: "product/CELCOM10"},
				Body:        body,
				ReceivedAt:  recv,
				Subscribers: []string{"search-indexer"},
			}
			if _, err := s.Put(context.Background(), []gateway.NewEvent{ev}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkBareSet is the yardstick: one plain SET of the body per op,
// no coalescing, from as many goroutines as BenchmarkPut.
func BenchmarkBareSet(b *testing.B) {
	srv := testredis.Start(b)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	body := []byte(strings.Repeat("x", 500))
	var n atomic.Int64
	start := time.Now()
	b.SetParallelism(benchConcurrency)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rdb.Set(context.Background(), fmt.Sprintf("bare:%d", n.Add(1)), body, 0).Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
