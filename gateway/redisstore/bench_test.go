package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/internal/testredis"
)

// benchConcurrency is how many Put callers per CPU run at once, standing in
// for concurrent ingest requests.
const benchConcurrency = 32

// fsyncModes are the appendfsync settings benchmarked: always (testredis's,
// the durable one) and everysec (Redis's usual default).
var fsyncModes = []string{"always", "everysec"}

// BenchmarkPut stores one event with one subscriber per op from many
// goroutines at once, as concurrent ingest requests do, with the default
// tombstone window (each new event is looked up among the tombstones).
// Compare with BenchmarkBareSet under the same appendfsync.
func BenchmarkPut(b *testing.B) {
	for _, mode := range fsyncModes {
		b.Run("appendfsync="+mode, func(b *testing.B) {
			srv := testredis.Start(b)
			s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "bench"},
				TombstoneWindow: config.DefaultTombstoneWindow})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.rdb.ConfigSet(context.Background(), "appendfsync", mode).Err(); err != nil {
				b.Fatal(err)
			}
			recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			var n atomic.Int64
			defer reportRedisCPU(b, s.rdb)()
			parallel(b, func() error {
				_, err := s.Put(context.Background(), []gateway.NewEvent{benchEvent(n.Add(1), recv)})
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
			defer reportRedisCPU(b, rdb)()
			parallel(b, func() error {
				return rdb.Set(context.Background(), fmt.Sprintf("bare:%d", n.Add(1)), body, 0).Err()
			})
		})
	}
}

// BenchmarkBareXAdd is the floor of make bench: one XADD of a body per op
// to one stream.
func BenchmarkBareXAdd(b *testing.B) {
	srv := testredis.Start(b)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	body := strings.Repeat("x", 500)
	defer reportRedisCPU(b, rdb)()
	parallel(b, func() error {
		return rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "floor", Values: []any{"b", body}}).Err()
	})
}

// reportRedisCPU reads the server's CPU time (INFO cpu, user + system)
// now and, when the returned function runs, reports what was spent per
// op as redis-µs/op: Redis runs commands on one thread, so its CPU per
// event is what bounds a store's throughput on one Redis.
func reportRedisCPU(b *testing.B, rdb redis.UniversalClient) func() {
	b.Helper()
	cpu := func() float64 {
		info, err := rdb.Info(context.Background(), "cpu").Result()
		if err != nil {
			b.Fatal(err)
		}
		var total float64
		for _, line := range strings.Split(info, "\n") {
			for _, k := range []string{"used_cpu_user:", "used_cpu_sys:"} {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
					f, _ := strconv.ParseFloat(v, 64)
					total += f
				}
			}
		}
		return total
	}
	before := cpu()
	rdb.ConfigResetStat(context.Background())
	return func() {
		if b.N > 0 {
			b.ReportMetric((cpu()-before)*1e6/float64(b.N), "redis-µs/op")
			if os.Getenv("HOOKGATE_BENCH_CMDSTATS") != "" {
				info, _ := rdb.Info(context.Background(), "commandstats").Result()
				b.Logf("N=%d\n%s", b.N, info)
			}
		}
	}
}

// benchBody is an envelope of a realistic size (~500 bytes).
var benchBody = []byte(`{"specversion":"1.0","type":"iimmpact.product.updated","data":{"object":{` +
	strings.Repeat(`"k":"v",`, 50) + `"id":"CELCOM10"}}}`)

// benchEvent is event i of a benchmark, received i µs after recv, with one
// subscriber.
func benchEvent(i int64, recv time.Time) gateway.NewEvent {
	return gateway.NewEvent{
		Envelope:    gateway.Envelope{ID: fmt.Sprintf("evt_%d", i), Source: "iimmpact", Type: "iimmpact.product.updated", Subject: "product/CELCOM10"},
		Body:        benchBody,
		ReceivedAt:  recv.Add(time.Duration(i) * time.Microsecond),
		Subscribers: []string{"search-indexer"},
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

// listBenchEvents is how many events BenchmarkList fills the index with;
// its deep cursor is listBenchDepth entries from the newest.
const (
	listBenchEvents = 1_000_000
	listBenchDepth  = 900_000
)

// fillListScript writes events ARGV[1]..ARGV[2] (received at ARGV[3]+i ms,
// source "noise", one pending delivery to sub-a) straight into the event
// hashes and i:all, the keys List reads: far faster than Put, which also
// keeps queues and dedupe.
var fillListScript = redis.NewScript(`
local P, from, to, base = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local z = {}
for i = from, to do
  local id = string.format('evt_%07d', i)
  local recv = string.format('%.0f', base + i)
  redis.call('HSET', P .. ':e:' .. id, 'src', 'noise', 'type', 'noise.product.updated', 'subj', 'product/' .. i,
    'recv', recv, 'subs', 'sub-a', 'n:pending', 1, 'd:sub-a:st', 'pending')
  z[#z + 1] = recv
  z[#z + 1] = id
end
for s = 1, #z, 2000 do
  local part = {unpack(z, s, math.min(s + 1999, #z))}
  redis.call('ZADD', P .. ':i:all', unpack(part))
end
return 0
`)

// BenchmarkList times one List call on an index of a million events: a
// page at the top and one listBenchDepth entries deep, unfiltered (a full
// page) and with a filter nothing matches (source with subscriber), which
// stops at the budget. The deep calls should cost
// what the top ones do. Run with
//
//	go test -run '^$' -bench BenchmarkList ./gateway/redisstore/
func BenchmarkList(b *testing.B) {
	srv := testredis.Start(b)
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// The fill need not survive a crash.
	if err := s.rdb.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const step = 50_000
	for from := 0; from < listBenchEvents; from += step {
		if err := fillListScript.Run(ctx, s.rdb, []string{s.base}, from, from+step-1, ms(base)).Err(); err != nil {
			b.Fatal(err)
		}
	}
	// The entry listBenchDepth from the newest, as a cursor would name it.
	i := listBenchEvents - 1 - listBenchDepth
	deep := encodeCursor(ms(base)+int64(i), fmt.Sprintf("evt_%07d", i))

	cases := []struct {
		name    string
		f       gateway.EventFilter
		wantLen int // rows each call returns
	}{
		{"page=50/depth=0", gateway.EventFilter{}, 50},
		{"page=50/depth=900k", gateway.EventFilter{Cursor: deep}, 50},
		{"page=500/depth=900k", gateway.EventFilter{Cursor: deep, Limit: gateway.MaxPage}, gateway.MaxPage},
		{"selective/depth=0", gateway.EventFilter{Subscriber: "sub-a", Source: "rare"}, 0},
		{"selective/depth=900k", gateway.EventFilter{Subscriber: "sub-a", Source: "rare", Cursor: deep}, 0},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := s.List(ctx, tc.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Events) != tc.wantLen || page.NextCursor == "" {
					b.Fatalf("List(%+v) = %d rows, cursor %q; want %d and a cursor", tc.f, len(page.Events), page.NextCursor, tc.wantLen)
				}
			}
		})
	}
}

// BenchmarkClaimRecord is the delivery side of one event: its share of a
// Claim of 16 and its Record as delivered, from eight goroutines that
// claim as dispatchers do, on events stored beforehand (untimed). With BenchmarkPut's
// redis-µs/op it is the Redis CPU an event costs end to end.
func BenchmarkClaimRecord(b *testing.B) {
	srv := testredis.Start(b)
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	recv := time.Now().Add(-time.Hour)
	const batch = 500
	for i := 0; i < b.N; i += batch {
		evs := make([]gateway.NewEvent, 0, batch)
		for j := i; j < min(i+batch, b.N); j++ {
			evs = append(evs, benchEvent(int64(j), recv))
		}
		if _, err := s.Put(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	defer reportRedisCPU(b, s.rdb)()
	start := time.Now()
	for range 8 { // eight dispatchers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < int64(b.N) {
				cs, err := s.Claim(ctx, "search-indexer", time.Now(), 16, time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				for _, c := range cs {
					o := gateway.Outcome{Status: gateway.StatusDelivered,
						Attempt: gateway.Attempt{At: time.Now(), Duration: time.Millisecond, StatusCode: 200}}
					if err := s.Record(ctx, c, o); err != nil {
						b.Error(err)
						return
					}
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "deliveries/s")
}
