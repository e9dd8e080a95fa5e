package boltstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// BenchmarkCommitPages measures what one gateway-shaped commit writes: k
// Puts (a 1 KiB body, one subscriber, hashed ids) and k Records of
// earlier events, all in one group commit, on a store already holding
// prefill events. It reports the pages written per event, in total and
// per bucket (pages that are in a bucket's tree after the commit and were
// in no tree before it: bbolt copies on write, so those are exactly the
// pages the commit wrote), and the bytes written per event. b.N is the
// number of commits. (Its ns/op includes the harness's goroutines and
// waits; BenchmarkGateway and BenchmarkPut are the ones to time.)
func BenchmarkCommitPages(b *testing.B) {
	const k, prefill = 16, 20000
	st, err := Open(gateway.StoreConfig{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	s := st.(*Store)
	defer s.Close()
	ctx := context.Background()
	body := make([]byte, 1024)
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	seq := 0
	event := func() gateway.NewEvent {
		seq++
		sum := sha256.Sum256([]byte(strconv.Itoa(seq)))
		return gateway.NewEvent{Envelope: gateway.Envelope{ID: "evt_" + hex.EncodeToString(sum[:16]),
			Source: "iimmpact", Type: "iimmpact.product.updated", Subject: "product/X"},
			Body: body, ReceivedAt: start.Add(time.Duration(seq) * time.Millisecond), Subscribers: []string{"sink-1"}}
	}
	for seq < prefill {
		evs := make([]gateway.NewEvent, 0, 500)
		for range 500 {
			evs = append(evs, event())
		}
		if _, err := s.Put(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	// Deliver the older half, so that Records work amid delivered history.
	now := start.Add(time.Duration(prefill) * time.Hour)
	for delivered := 0; delivered < prefill/2; delivered += k {
		cs, err := s.Claim(ctx, "sink-1", now, k, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		oneCommit(b, s, nil, cs, now)
	}
	before := pageOwners(b, s.db)
	byBucket := map[string]int{}
	var total, events int
	b.ResetTimer()
	for range b.N {
		evs := make([]gateway.NewEvent, k)
		for i := range evs {
			evs[i] = event()
		}
		cs, err := s.Claim(ctx, "sink-1", now, k, time.Hour)
		if err != nil || len(cs) != k {
			b.Fatalf("Claim = %d, %v", len(cs), err)
		}
		oneCommit(b, s, evs, cs, now)
		b.StopTimer()
		after := pageOwners(b, s.db)
		for pg, name := range after {
			if _, ok := before[pg]; !ok {
				byBucket[name]++
				total++
			}
		}
		before = after
		events += k
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/float64(events), "pages/event")
	names := make([]string, 0, len(byBucket))
	for n := range byBucket {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.ReportMetric(float64(byBucket[n])/float64(events), n+"-pages/event")
	}
}

// oneCommit runs len(evs) one-event Puts and a Record (delivered) of each
// claim in a single group commit: a blocker holds the committer while the
// calls queue up.
func oneCommit(b *testing.B, s *Store, evs []gateway.NewEvent, cs []gateway.Claim, now time.Time) {
	ctx := context.Background()
	hold := make(chan struct{})
	held := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.gc.do(ctx, func(*bolt.Tx) error { close(held); <-hold; return nil }, nil)
	}()
	<-held
	for i := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Put(ctx, evs[i:i+1]); err != nil {
				b.Error(err)
			}
		}()
	}
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
			if err := s.Record(ctx, c, o); err != nil {
				b.Error(err)
			}
		}()
	}
	for {
		s.gc.mu.Lock()
		n := len(s.gc.queue)
		s.gc.mu.Unlock()
		if n == len(evs)+len(cs) {
			break
		}
		time.Sleep(50 * time.Microsecond)
	}
	close(hold)
	wg.Wait()
}

// pageOwners maps every page in use by a bucket's tree to the bucket's
// path, read from the mapped file in a read transaction.
func pageOwners(b *testing.B, db *bolt.DB) map[uint64]string {
	owners := map[uint64]string{}
	f, err := os.Open(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	err = db.View(func(tx *bolt.Tx) error {
		psize := int64(db.Info().PageSize)
		buf := make([]byte, psize)
		var walk func(pg uint64, name string)
		walk = func(pg uint64, name string) {
			if _, err := f.ReadAt(buf, int64(pg)*psize); err != nil {
				b.Fatal(err)
			}
			flags, count := binary.LittleEndian.Uint16(buf[8:]), int(binary.LittleEndian.Uint16(buf[10:]))
			overflow := binary.LittleEndian.Uint32(buf[12:])
			for i := uint64(0); i <= uint64(overflow); i++ {
				owners[pg+i] = name
			}
			if flags&0x01 == 0 { // not a branch page
				return
			}
			children := make([]uint64, count) // branch elements: pos, ksize (4 bytes each), pgid
			for i := range children {
				children[i] = binary.LittleEndian.Uint64(buf[16+i*16+8:])
			}
			for _, c := range children {
				walk(c, name)
			}
		}
		var bucket func(bk *bolt.Bucket, name string)
		bucket = func(bk *bolt.Bucket, name string) {
			if r := bk.Root(); r != 0 {
				walk(uint64(r), name)
			}
			_ = bk.ForEachBucket(func(child []byte) error {
				cn := string(child)
				if name == "list" || name == "" {
					bucket(bk.Bucket(child), join(name, cn))
				} else {
					bucket(bk.Bucket(child), name) // per-subscriber (etc.) buckets count as their parent
				}
				return nil
			})
		}
		bucket(tx.Cursor().Bucket(), "")
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return owners
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return fmt.Sprintf("%s/%s", a, b)
}
