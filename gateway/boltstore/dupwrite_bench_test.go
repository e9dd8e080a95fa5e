package boltstore

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// BenchmarkDuplicatePut measures what a replayed duplicate costs the
// disk: one stored IIMMPACT-sized event (a 1 KiB body, two subscribers),
// then b.N Puts of it again from 8xGOMAXPROCS callers at once (a replay
// flood). It reports the bytes this process wrote to storage per
// duplicate (/proc/self/io write_bytes) and the write transactions per
// duplicate; a duplicate should cost neither.
func BenchmarkDuplicatePut(b *testing.B) {
	s, err := Open(gateway.StoreConfig{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	st := s.(*Store)
	body := bytes.Repeat([]byte("a"), 1024)
	ev := gateway.NewEvent{
		Envelope: gateway.Envelope{ID: "evt_replayed", Source: "iimmpact", Type: "iimmpact.product.updated", Subject: "product/X"},
		Body:     body, ReceivedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Subscribers: []string{"search-indexer", "pricing"},
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
		b.Fatal(err)
	}
	w0, tx0 := writeBytes(b), st.disk.tries.Load()
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
	if err := st.dups.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(writeBytes(b)-w0)/float64(b.N), "written-B/dup")
	b.ReportMetric(float64(st.disk.tries.Load()-tx0)/float64(b.N), "writetx/dup")
}

// writeBytes is what this process has had written to storage so far.
func writeBytes(tb testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		tb.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			return n
		}
	}
	tb.Skip("no write_bytes in /proc/self/io")
	return 0
}
