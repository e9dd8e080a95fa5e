package boltstore

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

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

// BenchmarkTombstones measures what a million tombstones cost on disk:
// the pages the tombs bucket holds (allocated, and in use) once a
// million removed events' ids are written, as Sweep writes them (1,000
// per transaction). Run with -benchtime 1x.
func BenchmarkTombstones(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		s, err := Open(gateway.StoreConfig{Path: b.TempDir(), TombstoneWindow: 720 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		st := s.(*Store)
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		ctx := context.Background()
		for i := 0; i < n; i += 1000 {
			err := st.update(ctx, "fill", func(t *txn) error {
				for j := i; j < i+1000; j++ {
					if err := t.addTomb("evt_"+strconv.Itoa(j), now, st.tombWin); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		var alloc, inuse int
		err = st.db.View(func(tx *bolt.Tx) error {
			bs := tx.Bucket(bktTombs).Stats()
			alloc, inuse = bs.BranchAlloc+bs.LeafAlloc, bs.BranchInuse+bs.LeafInuse
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(alloc)/n, "alloc-B/tombstone")
		b.ReportMetric(float64(inuse)/n, "inuse-B/tombstone")
		s.Close()
	}
}
