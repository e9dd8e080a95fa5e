package boltstore

import (
	"bytes"
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// checkIndexes fails unless every index entry matches a record and every
// record has its entries: the invariant txn.setDelivery keeps.
func checkIndexes(t *testing.T, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		x := newTxn(tx, nil)
		want := map[string]int{} // index bucket path -> entries expected
		pending, dead := map[string]int64{}, map[string]int64{}
		has := func(parent *bolt.Bucket, path, name string, key []byte) {
			want[path+"/"+name]++
			if b := parent.Bucket([]byte(name)); b == nil || b.Get(key) == nil && !keyIn(b, key) {
				t.Errorf("missing index entry %s/%q -> %q", path, name, key)
			}
		}
		events := 0
		err := x.events.ForEach(func(k, v []byte) error {
			events++
			_, id := splitTimeKey(k)
			ev, err := decodeEvent(v, false)
			if err != nil {
				return err
			}
			lk := timeKey(ev.ReceivedAt, id)
			if !bytes.Equal(k, lk) {
				t.Errorf("event %s stored under %q, want its eventKey %q", id, k, lk)
			}
			if e, err := x.getID(id); err != nil || !e.hasEvent || e.recv != timeBits(ev.ReceivedAt) {
				t.Errorf("id entry of %s = %+v, %v; want its receipt time", id, e, err)
			}
			want["all/"]++
			if !keyIn(x.listAll, lk) {
				t.Errorf("missing list/all entry for %s", id)
			}
			has(x.listSrc, "src", ev.Source, lk)
			has(x.listType, "type", ev.Type, lk)
			subs, recs, err := x.eventDeliveries(lk)
			if err != nil {
				return err
			}
			sts := map[gateway.DeliveryStatus]bool{gateway.StatusUnrouted: len(recs) == 0}
			for i, sub := range subs {
				r := recs[i]
				sts[r.Status] = true
				has(x.listSub, "sub", sub, lk)
				if listedStatus(r.Status) {
					has(x.listSS, "substatus", string(subStatusName(sub, string(r.Status))), lk)
				}
				if r.queued() {
					pending[sub]++
					has(x.due, "due", sub, timeKey(r.DueAt, id))
				}
				if r.Status == gateway.StatusDead {
					dead[sub]++
					has(x.dead, "dead", sub, timeKey(r.DeadAt, id))
				}
			}
			for st, ok := range sts {
				if ok && listedStatus(st) {
					has(x.listSt, "status", string(st), lk)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		got := map[string]int{"all/": x.listAll.Stats().KeyN}
		for path, parent := range map[string]*bolt.Bucket{"src": x.listSrc, "type": x.listType, "sub": x.listSub,
			"substatus": x.listSS, "status": x.listSt, "due": x.due, "dead": x.dead} {
			parent.ForEachBucket(func(name []byte) error {
				if n := parent.Bucket(name).Stats().KeyN; n > 0 {
					got[path+"/"+string(name)] = n
				}
				return nil
			})
		}
		for k, n := range got {
			if n != want[k] {
				t.Errorf("index %q has %d entries, want %d", k, n, want[k])
			}
		}
		for k, n := range want {
			if _, seen := got[k]; !seen {
				t.Errorf("index %q has %d entries, want %d", k, got[k], n)
			}
		}
		withEvent := 0
		x.ids.ForEach(func(k, v []byte) error {
			if len(v) == 16 {
				withEvent++
			}
			return nil
		})
		if withEvent != events {
			t.Errorf("%d id entries name an event, %d events are stored", withEvent, events)
		}
		return x.stats.ForEach(func(k, v []byte) error {
			st, err := decodeStats(v)
			if err != nil {
				return err
			}
			if st.Pending != pending[string(k)] || st.Dead != dead[string(k)] {
				t.Errorf("stats %s: pending %d dead %d, records say %d, %d", k, st.Pending, st.Dead, pending[string(k)], dead[string(k)])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("check indexes: %v", err)
	}
}

// TestIndexesFollowRecords drives deliveries through every transition and
// checks the indexes after each step, then sweeps everything and checks
// that no record or index entry is left.
func TestIndexesFollowRecords(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	_, err := s.Put(ctx, []gateway.NewEvent{
		testEvent("evt_1", sec(0), "sub-a", "sub-b"),
		testEvent("evt_2", sec(1), "sub-a"),
		testEvent("evt_3", sec(2)),
		testEvent("evt_4", sec(3), "sub-b", "sub-b"),
	})
	ok("Put", err)
	checkIndexes(t, s)

	cs, err := s.Claim(ctx, "sub-a", sec(5), 10, time.Minute)
	ok("Claim sub-a", err)
	checkIndexes(t, s)
	ok("Record delivered", s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: sec(6), StatusCode: 200}}))
	ok("Record retrying", s.Record(ctx, cs[1], gateway.Outcome{Status: gateway.StatusRetrying, NextAttemptAt: sec(60),
		Attempt: gateway.Attempt{At: sec(6), StatusCode: 500}}))
	checkIndexes(t, s)

	cs, err = s.Claim(ctx, "sub-b", sec(5), 10, time.Minute)
	ok("Claim sub-b", err)
	ok("Record dead", s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDead, Attempt: gateway.Attempt{At: sec(7), StatusCode: 410}}))
	ok("Release", s.Release(ctx, cs[1], sec(30)))
	checkIndexes(t, s)

	_, err = s.Redeliver(ctx, "evt_1", "", sec(100))
	ok("Redeliver all", err)
	_, err = s.Redeliver(ctx, "evt_3", "sub-c", sec(100))
	ok("Redeliver to a new subscriber", err)
	checkIndexes(t, s)

	// A redelivery after the dedupe window replaces the old event.
	_, err = s.Put(ctx, []gateway.NewEvent{testEvent("evt_2", sec(7200), "sub-c")})
	ok("Put after the window", err)
	checkIndexes(t, s)

	// Sweep keeps events with queued deliveries: end them all first.
	for _, sub := range []string{"sub-a", "sub-b", "sub-c"} {
		cs, err := s.Claim(ctx, sub, t0.Add(999*time.Hour), 100, time.Minute)
		ok("Claim "+sub+" to finish", err)
		for _, c := range cs {
			ok("Record delivered", s.Record(ctx, c, gateway.Outcome{Status: gateway.StatusDelivered,
				Attempt: gateway.Attempt{At: t0.Add(999 * time.Hour), StatusCode: 200}}))
		}
	}
	checkIndexes(t, s)
	ok("Sweep", s.Sweep(ctx, t0.Add(1000*time.Hour)))
	checkIndexes(t, s)
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bktEvents, bktDeliveries, bktHistory, bktIDs, bktDedupeExp} {
			if n := tx.Bucket(name).Stats().KeyN; n != 0 {
				t.Errorf("bucket %s has %d keys after sweeping everything", name, n)
			}
		}
		return nil
	})
	ok("view", err)
}

// TestClaimDropsDanglingDueEntry plants a due entry with no delivery
// behind it: Claim must skip and remove it, not fail the queue for good.
func TestClaimDropsDanglingDueEntry(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_real", t0.Add(time.Second), "sub-a")}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	ghost := timeKey(t0, "evt_ghost")
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktDue).Bucket([]byte("sub-a")).Put(ghost, nil) })
	if err != nil {
		t.Fatalf("plant: %v", err)
	}
	for range 2 { // found once, dropped once, counted once
		cs, err := s.Claim(ctx, "sub-a", t0.Add(time.Minute), 10, time.Minute)
		if err != nil || len(cs) != 1 || cs[0].EventID != "evt_real" {
			t.Fatalf("Claim = %+v, %v; want only evt_real", cs, err)
		}
		if err := s.Release(ctx, cs[0], t0); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	h, err := s.Health(ctx)
	if err != nil || h.Orphans != 1 || h.Warnings == nil || len(h.Warnings) != 0 {
		t.Errorf("Health = %+v, %v; want 1 orphan and no warnings", h, err)
	}
	checkIndexes(t, s)
}
