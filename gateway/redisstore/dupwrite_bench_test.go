package redisstore

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// BenchmarkDuplicatePut measures what a replayed duplicate costs Redis's
// disk: one stored IIMMPACT-sized event (a 1 KiB body, two subscribers),
// then b.N Puts of it again from 8xGOMAXPROCS callers (a replay flood),
// on a server with appendfsync always. It reports the AOF's growth and
// the writes Redis counted (rdb_changes_since_last_save) per duplicate; a
// duplicate should cost neither, but for the one write of the
// duplicates counters that follows a flood.
func BenchmarkDuplicatePut(b *testing.B) {
	srv := testredis.Start(b)
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL())}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := gateway.NewEvent{
		Envelope: gateway.Envelope{ID: "evt_replayed", Source: "iimmpact", Type: "iimmpact.product.updated", Subject: "product/X"},
		Body:     bytes.Repeat([]byte("a"), 1024), ReceivedAt: time.Now(),
		Subscribers: []string{"search-indexer", "pricing"},
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
		b.Fatal(err)
	}
	aof0, dirty0 := infoInt(b, srv, "persistence", "aof_current_size"), infoInt(b, srv, "persistence", "rdb_changes_since_last_save")
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := s.Put(ctx, []gateway.NewEvent{ev})
			if err != nil || !res[0].Duplicate {
				b.Errorf("Put = %+v, %v; want a duplicate", res, err)
				return
			}
		}
	})
	b.StopTimer()
	// The duplicates counters, written a second later, count too.
	if err := s.dups.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(infoInt(b, srv, "persistence", "aof_current_size")-aof0)/float64(b.N), "aof-B/dup")
	b.ReportMetric(float64(infoInt(b, srv, "persistence", "rdb_changes_since_last_save")-dirty0)/float64(b.N), "writes/dup")
}

// infoInt reads one integer field of an INFO section.
func infoInt(tb testing.TB, srv *testredis.Server, section, field string) int64 {
	tb.Helper()
	for _, line := range strings.Split(srv.Info(section), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("INFO %s %s = %q", section, field, v)
			}
			return n
		}
	}
	tb.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// BenchmarkTombstones measures what a million tombstones cost Redis's
// memory: used_memory before and after a million removed events' ids are
// written, as sweep_events.lua writes them (1,000 per script call), in
// one partition (HOOKGATE_TOMBSTONES sets another count). Run with
// -benchtime 1x.
func BenchmarkTombstones(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("HOOKGATE_TOMBSTONES")); err == nil && v > 0 {
		n = v
	}
	fill := redis.NewScript(mustRead("common.lua") + `
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do tombAdd('evt_' .. i, tonumber(ARGV[3]), tonumber(ARGV[4])) end
return 0`)
	for range b.N {
		srv := testredis.Start(b)
		s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL())}, TombstoneWindow: 720 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := s.layout(ctx); err != nil {
			b.Fatal(err)
		}
		mem0 := infoInt(b, srv, "memory", "used_memory")
		now := time.Now().UnixMilli()
		for i := 0; i < n; i += 1000 {
			if err := fill.Run(ctx, s.rdb, []string{s.bases[0]}, i, i+999, now, s.tombWin.Milliseconds()).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(infoInt(b, srv, "memory", "used_memory")-mem0)/float64(n), "mem-B/tombstone")
		keys, _ := s.rdb.DBSize(ctx).Result()
		b.ReportMetric(float64(keys), "keys")
		s.Close()
	}
}
