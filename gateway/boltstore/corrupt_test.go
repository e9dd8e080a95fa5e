package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// garbage is what the corrupt-record tests write over a record: not the
// store's format (its first byte is the format's).
var garbage = []byte{0xff, 0x01, 0x02, 0x03}

// spoil writes garbage over the record at key of the top-level bucket,
// with bbolt directly, as a damaged page would leave it.
func spoil(t *testing.T, s *Store, bucket, key []byte) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get(key) == nil {
			return fmt.Errorf("no %s record %q to spoil", bucket, key)
		}
		return b.Put(key, garbage)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// threeEvents stores e1, e2, e3, a second apart, each for sub1 and sub2.
func threeEvents(t *testing.T, s *Store) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		ev := testEvent(fmt.Sprintf("e%d", i), recvOf(i), "sub1", "sub2")
		if _, err := s.Put(context.Background(), []gateway.NewEvent{ev}); err != nil {
			t.Fatal(err)
		}
	}
}

func recvOf(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

// claimIDs claims up to 10 of sub's deliveries and returns their event ids.
func claimIDs(t *testing.T, s *Store, sub string) []string {
	t.Helper()
	cs, err := s.Claim(context.Background(), sub, t0.Add(time.Hour), 10, time.Minute)
	if err != nil {
		t.Fatalf("Claim %s: %v", sub, err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.EventID)
	}
	return ids
}

// wantCorrupt checks the count Health reports and that the bucket holds
// garbage under each of keys (bucket \x00 key).
func wantCorrupt(t *testing.T, s *Store, n int64, keys ...[]byte) {
	t.Helper()
	h, err := s.Health(context.Background())
	if err != nil || h.Corrupt != n {
		t.Errorf("Health = %+v, %v; want %d corrupt", h, err, n)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktCorrupt)
		if b == nil {
			if len(keys) > 0 {
				t.Errorf("no corrupt bucket, want %q in it", keys)
			}
			return nil
		}
		for _, k := range keys {
			if v := b.Get(k); len(v) < 8 || !bytes.Equal(v[8:], garbage) {
				t.Errorf("corrupt bucket %q = %q, want the time and the garbage", k, v)
			}
		}
		return nil
	})
}

func corruptKey(bucket, key []byte) []byte { return append(append(bytes.Clone(bucket), 0), key...) }

// TestCorruptDeliveryLeavesItsQueue: a delivery whose record does not
// decode is passed over by Claim, which hands out the rest of the queue;
// it is set aside (counted, kept, logged with how to queue it again),
// leaves the indexes in step, and the admin API's redeliver queues it
// again.
func TestCorruptDeliveryLeavesItsQueue(t *testing.T) {
	logs := captureLog(t)
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	threeEvents(t, s)
	dk := deliveryKey(eventKey(recvOf(2), "e2"), "sub1")
	spoil(t, s, bktDeliveries, dk)

	if got := claimIDs(t, s, "sub1"); fmt.Sprint(got) != "[e1 e3]" {
		t.Errorf("claimed %v, want [e1 e3]", got)
	}
	wantCorrupt(t, s, 1, corruptKey(bktDeliveries, dk))
	checkIndexes(t, s)
	if st, err := s.Stats(ctx, "sub1"); err != nil || st.Pending != 2 {
		t.Errorf("Stats = %+v, %v; want 2 pending", st, err)
	}
	ev, err := s.Event(ctx, "e2")
	if err != nil || len(ev.Deliveries) != 1 || ev.Deliveries[0].Subscriber != "sub2" {
		t.Errorf("Event e2 = %+v, %v; want its delivery to sub2 only", ev.Deliveries, err)
	}
	out := logs.String()
	if n := strings.Count(out, "set aside"); n != 1 {
		t.Errorf("%d log lines about the record set aside, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "/admin/api/events/e2/redeliver?subscriber=sub1") {
		t.Errorf("the log does not say how to queue it again:\n%s", out)
	}

	if n, err := s.Redeliver(ctx, "e2", "sub1", t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Redeliver = %d, %v", n, err)
	}
	if got := claimIDs(t, s, "sub1"); fmt.Sprint(got) != "[e2]" {
		t.Errorf("claimed after the redelivery %v, want [e2]", got)
	}
	checkIndexes(t, s)
}

// TestCorruptEventLeavesEveryQueue: an event whose record does not decode
// cannot be sent; every subscriber's queue goes on without it, and it
// goes with its deliveries and index entries.
func TestCorruptEventLeavesEveryQueue(t *testing.T) {
	captureLog(t)
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	threeEvents(t, s)
	ek := eventKey(recvOf(2), "e2")
	spoil(t, s, bktEvents, ek)

	for _, sub := range []string{"sub1", "sub2"} {
		if got := claimIDs(t, s, sub); fmt.Sprint(got) != "[e1 e3]" {
			t.Errorf("%s claimed %v, want [e1 e3]", sub, got)
		}
	}
	wantCorrupt(t, s, 1, corruptKey(bktEvents, ek))
	checkIndexes(t, s)
	if _, err := s.Event(ctx, "e2"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Event e2: %v, want ErrNotFound", err)
	}
	page, err := s.List(ctx, gateway.EventFilter{})
	if err != nil || len(page.Events) != 2 {
		t.Errorf("List = %+v, %v; want e3 and e1", page.Events, err)
	}
	if st, err := s.Stats(ctx, "sub2"); err != nil || st.Pending != 2 {
		t.Errorf("Stats = %+v, %v; want 2 pending", st, err)
	}
	// Its id is forgotten: an upstream redelivery is stored again.
	res, err := s.Put(ctx, []gateway.NewEvent{testEvent("e2", recvOf(4), "sub1")})
	if err != nil || res[0].Duplicate {
		t.Errorf("Put e2 again = %+v, %v; want it stored", res, err)
	}
	checkIndexes(t, s)
}

// TestCorruptRecordsInReads: each read that meets a record that does not
// decode answers without it, sets it aside, and answers the same way
// after.
func TestCorruptRecordsInReads(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, s *Store) (bucket, key []byte)
		read  func(t *testing.T, s *Store)
	}{
		{"List meets an event", func(t *testing.T, s *Store) ([]byte, []byte) {
			return bktEvents, eventKey(recvOf(2), "e2")
		}, func(t *testing.T, s *Store) {
			page, err := s.List(ctx, gateway.EventFilter{Subscriber: "sub1"})
			if err != nil || len(page.Events) != 2 {
				t.Errorf("List = %+v, %v; want e3 and e1", page.Events, err)
			}
		}},
		{"List meets a delivery", func(t *testing.T, s *Store) ([]byte, []byte) {
			return bktDeliveries, deliveryKey(eventKey(recvOf(2), "e2"), "sub1")
		}, func(t *testing.T, s *Store) {
			page, err := s.List(ctx, gateway.EventFilter{Subscriber: "sub1", Status: gateway.StatusPending})
			if err != nil || len(page.Events) != 2 {
				t.Errorf("List = %+v, %v; want e3 and e1", page.Events, err)
			}
		}},
		{"Event meets an attempt", func(t *testing.T, s *Store) ([]byte, []byte) {
			record(t, s, "e1", "sub1", gateway.StatusRetrying)
			return bktHistory, historyKey(eventKey(recvOf(1), "e1"), "sub1", 1)
		}, func(t *testing.T, s *Store) {
			ev, err := s.Event(ctx, "e1")
			if err != nil || len(ev.Deliveries) != 2 || len(ev.Deliveries[0].History) != 0 {
				t.Errorf("Event e1 = %+v, %v; want both deliveries, no history", ev.Deliveries, err)
			}
		}},
		{"Dead meets a dead delivery", func(t *testing.T, s *Store) ([]byte, []byte) {
			record(t, s, "e1", "sub1", gateway.StatusDead)
			return bktDeliveries, deliveryKey(eventKey(recvOf(1), "e1"), "sub1")
		}, func(t *testing.T, s *Store) {
			if dead, err := s.Dead(ctx, "sub1", gateway.DeadFilter{Limit: 10}); err != nil || len(dead) != 0 {
				t.Errorf("Dead = %+v, %v; want none", dead, err)
			}
			if st, err := s.Stats(ctx, "sub1"); err != nil || st.Dead != 0 || st.Pending != 2 {
				t.Errorf("Stats = %+v, %v; want 2 pending, 0 dead", st, err)
			}
		}},
		{"Stats meets its counters", func(t *testing.T, s *Store) ([]byte, []byte) {
			record(t, s, "e1", "sub1", gateway.StatusRetrying)
			return bktStats, []byte("sub1")
		}, func(t *testing.T, s *Store) {
			st, err := s.Stats(ctx, "sub1")
			if err != nil || st.Pending != 3 || st.Retrying != 1 || st.OldestPendingAt.IsZero() {
				t.Errorf("Stats = %+v, %v; want 3 pending, 1 retrying, recounted", st, err)
			}
		}},
		{"a backfill meets an event", func(t *testing.T, s *Store) ([]byte, []byte) {
			return bktEvents, eventKey(recvOf(2), "e2")
		}, func(t *testing.T, s *Store) {
			res, err := s.Requeue(ctx, gateway.RequeueRange{Subscriber: "sub3",
				Window: gateway.TimeWindow{Since: t0, Until: t0.Add(time.Hour)}}, t0.Add(time.Hour))
			if err != nil || res.Next != "" {
				t.Errorf("Requeue = %+v, %v; want the walk done", res, err)
			}
			if st, err := s.Stats(ctx, "sub3"); err != nil || st.Pending != 2 {
				t.Errorf("Stats = %+v, %v; want e1 and e3 backfilled", st, err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			captureLog(t)
			s := openTest(t, t.TempDir())
			threeEvents(t, s)
			bucket, key := c.setup(t, s)
			spoil(t, s, bucket, key)
			c.read(t, s)
			wantCorrupt(t, s, 1, corruptKey(bucket, key))
			c.read(t, s)
			wantCorrupt(t, s, 1)
			checkIndexes(t, s)
		})
	}
}

// record claims sub's delivery of id and records an attempt ending it in
// status.
func record(t *testing.T, s *Store, id, sub string, status gateway.DeliveryStatus) {
	t.Helper()
	ctx := context.Background()
	cs, err := s.Claim(ctx, sub, t0.Add(time.Hour), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.EventID != id {
			if err := s.Release(ctx, c, t0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		o := gateway.Outcome{Status: status, Attempt: gateway.Attempt{At: t0.Add(time.Hour), StatusCode: 500}}
		if status == gateway.StatusRetrying {
			o.NextAttemptAt = t0.Add(2 * time.Hour)
		}
		if err := s.Record(ctx, c, o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCorruptRecordsInWrites: a write that meets a record that does not
// decode sets it aside and goes on, instead of failing for ever.
func TestCorruptRecordsInWrites(t *testing.T) {
	ctx := context.Background()
	t.Run("Put meets an id entry", func(t *testing.T) {
		captureLog(t)
		s := openTest(t, t.TempDir())
		threeEvents(t, s)
		spoil(t, s, bktIDs, []byte("e2"))
		res, err := s.Put(ctx, []gateway.NewEvent{testEvent("e2", recvOf(4), "sub1"), testEvent("e4", recvOf(4), "sub1")})
		if err != nil || res[0].Duplicate || res[1].Duplicate {
			t.Fatalf("Put = %+v, %v; want both stored", res, err)
		}
		wantCorrupt(t, s, 1, corruptKey(bktIDs, []byte("e2")))
	})
	t.Run("Record meets its event", func(t *testing.T) {
		captureLog(t)
		s := openTest(t, t.TempDir())
		threeEvents(t, s)
		cs, err := s.Claim(ctx, "sub1", t0.Add(time.Hour), 10, time.Minute)
		if err != nil || len(cs) != 3 {
			t.Fatalf("Claim = %v, %v", cs, err)
		}
		spoil(t, s, bktEvents, eventKey(recvOf(2), "e2"))
		for _, c := range cs {
			err := s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: t0}})
			if want := c.EventID == "e2"; errors.Is(err, gateway.ErrLeaseLost) != want || !want && err != nil {
				t.Errorf("Record %s: %v, want lease lost: %v", c.EventID, err, want)
			}
		}
		wantCorrupt(t, s, 1)
		checkIndexes(t, s)
	})
	t.Run("Sweep meets an event", func(t *testing.T) {
		captureLog(t)
		s := openTest(t, t.TempDir())
		threeEvents(t, s)
		for _, sub := range []string{"sub1", "sub2"} {
			for _, id := range []string{"e1", "e2", "e3"} {
				record(t, s, id, sub, gateway.StatusDelivered)
			}
		}
		spoil(t, s, bktEvents, eventKey(recvOf(2), "e2"))
		if err := s.Sweep(ctx, t0.Add(48*time.Hour)); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if page, err := s.List(ctx, gateway.EventFilter{}); err != nil || len(page.Events) != 0 {
			t.Errorf("after the sweep List = %+v, %v; want nothing", page.Events, err)
		}
		wantCorrupt(t, s, 1)
		checkIndexes(t, s)
	})
}

// TestCorruptOrderedHead: when the head of an ordered line is set aside,
// the next delivery of the subject becomes the head, instead of waiting
// for ever behind a head that is gone.
func TestCorruptOrderedHead(t *testing.T) {
	captureLog(t)
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		ev := testEvent(fmt.Sprintf("e%d", i), recvOf(i), "sub1")
		ev.Envelope.Subject = "product/1"
		ev.Ordered = []string{"sub1"}
		if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
			t.Fatal(err)
		}
	}
	spoil(t, s, bktEvents, eventKey(recvOf(1), "e1"))
	var got []string
	for range 2 { // the first passes over the head and sets it aside
		got = append(got, claimIDs(t, s, "sub1")...)
	}
	if fmt.Sprint(got) != "[e2]" {
		t.Errorf("claimed %v, want [e2]", got)
	}
	checkIndexes(t, s)
}
