package boltstore

import (
	"context"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// TestMigrate opens files of each older schema (made by rewriting a
// fresh store's buckets back into the old layout) and checks that every
// event reads back the same, the indexes hold, dedupe still works, and
// the store goes on working.
func TestMigrate(t *testing.T) {
	for _, tc := range []struct {
		from      string
		downgrade func(*bolt.Tx) error
	}{
		{"1", downgradeToV1},
		{"2", downgradeToV2},
	} {
		t.Run("from "+tc.from, func(t *testing.T) { testMigrate(t, tc.downgrade) })
	}
}

func testMigrate(t *testing.T, downgrade func(*bolt.Tx) error) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	var evs []gateway.NewEvent
	for i, id := range []string{"evt_c", "evt_a", "evt_b"} {
		evs = append(evs, testEvent(id, t0.Add(time.Duration(i)*time.Second), "sub-a", "sub-b"))
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cs, err := s.Claim(ctx, "sub-a", t0.Add(time.Minute), 2, time.Minute)
	if err != nil || len(cs) != 2 {
		t.Fatalf("Claim = %d, %v; want 2", len(cs), err)
	}
	outcomes := []gateway.Outcome{
		{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: t0.Add(time.Minute), StatusCode: 200}},
		{Status: gateway.StatusRetrying, NextAttemptAt: t0.Add(time.Hour),
			Attempt: gateway.Attempt{At: t0.Add(time.Minute), StatusCode: 500}},
	}
	for i, c := range cs {
		if err := s.Record(ctx, c, outcomes[i]); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	before := map[string]gateway.EventRecord{}
	for _, e := range evs {
		if before[e.Envelope.ID], err = s.Event(ctx, e.Envelope.ID); err != nil {
			t.Fatalf("Event: %v", err)
		}
	}
	if err := s.db.Update(downgrade); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	s.Close()

	s = openTest(t, dir)
	for id, want := range before {
		got, err := s.Event(ctx, id)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Event(%s) after migration = %+v, %v\nwant %+v", id, got, err, want)
		}
	}
	checkIndexes(t, s)
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktMeta).Get([]byte("version")); string(v) != schemaVersion {
			t.Errorf("version after migration = %q, want %q", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_a", t0.Add(time.Hour), "sub-a")})
	if err != nil || len(res) != 1 || !res[0].Duplicate {
		t.Errorf("Put of a stored id after migration = %+v, %v; want a duplicate", res, err)
	}
	cs, err = s.Claim(ctx, "sub-b", t0.Add(time.Minute), 10, time.Minute)
	if err != nil || len(cs) != 3 {
		t.Fatalf("Claim(sub-b) after migration = %d, %v; want 3", len(cs), err)
	}
	if err := s.Record(ctx, cs[0], outcomes[0]); err != nil {
		t.Errorf("Record after migration: %v", err)
	}
	checkIndexes(t, s)
}

// downgradeToV1 is downgradeToV2, then deliveries and history rekeyed
// from eventKey to event id, the schema 1 layout.
func downgradeToV1(tx *bolt.Tx) error {
	if err := downgradeToV2(tx); err != nil {
		return err
	}
	for _, name := range [][]byte{bktDeliveries, bktHistory} {
		if err := stripTime(tx, name); err != nil {
			return err
		}
	}
	return tx.Bucket(bktMeta).Put([]byte("version"), []byte("1"))
}

// downgradeToV2 rekeys events from eventKey to id and turns ids back into
// dedupe (id -> deadline), the schema 2 layout.
func downgradeToV2(tx *bolt.Tx) error {
	if err := stripTime(tx, bktEvents); err != nil {
		return err
	}
	dedupe, err := tx.CreateBucket(bktDedupeV2)
	if err != nil {
		return err
	}
	err = tx.Bucket(bktIDs).ForEach(func(k, v []byte) error {
		if d := v[:8]; binary.BigEndian.Uint64(d) != 0 {
			return dedupe.Put(append([]byte(nil), k...), append([]byte(nil), d...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bktIDs); err != nil {
		return err
	}
	return tx.Bucket(bktMeta).Put([]byte("version"), []byte("2"))
}

// stripTime drops the 8-byte time in front of every key of the bucket.
func stripTime(tx *bolt.Tx, name []byte) error {
	type kv struct{ k, v []byte }
	var all []kv
	tx.Bucket(name).ForEach(func(k, v []byte) error {
		all = append(all, kv{append([]byte(nil), k[8:]...), append([]byte(nil), v...)})
		return nil
	})
	if err := tx.DeleteBucket(name); err != nil {
		return err
	}
	b, err := tx.CreateBucket(name)
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}
