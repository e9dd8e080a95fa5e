package boltstore

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// TestMigrateV1 opens a schema 1 file (made by rewriting a fresh store's
// deliveries and history back under event-id keys, as schema 1 wrote
// them) and checks that every event reads back the same, the indexes hold,
// and the store goes on working.
func TestMigrateV1(t *testing.T) {
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
	if err := s.db.Update(downgradeToV1); err != nil {
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
	cs, err = s.Claim(ctx, "sub-b", t0.Add(time.Minute), 10, time.Minute)
	if err != nil || len(cs) != 3 {
		t.Fatalf("Claim(sub-b) after migration = %d, %v; want 3", len(cs), err)
	}
	if err := s.Record(ctx, cs[0], outcomes[0]); err != nil {
		t.Errorf("Record after migration: %v", err)
	}
	checkIndexes(t, s)
}

// downgradeToV1 rekeys deliveries and history from eventKey to event id,
// the schema 1 layout.
func downgradeToV1(tx *bolt.Tx) error {
	for _, name := range [][]byte{bktDeliveries, bktHistory} {
		b := tx.Bucket(name)
		type kv struct{ k, v []byte }
		var all []kv
		b.ForEach(func(k, v []byte) error {
			_, rest := k[:8], k[8:] // eventKey: time(8), id, then \x00 ...
			all = append(all, kv{append([]byte(nil), rest...), append([]byte(nil), v...)})
			return nil
		})
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		nb, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		for _, e := range all {
			if bytes.IndexByte(e.k, 0) < 0 {
				panic("no NUL after the id")
			}
			if err := nb.Put(e.k, e.v); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bktMeta).Put([]byte("version"), []byte("1"))
}
