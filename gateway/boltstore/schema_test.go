package boltstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// rewriteFile runs fn in a write transaction on the closed store's file.
func rewriteFile(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// TestOpenMigratesSchema3 turns a store into what version 3 wrote, with
// listing entries for pending and delivered, and checks that Open drops
// them, keeps the others and lists every status as before.
func TestOpenMigratesSchema3(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	evs := []gateway.NewEvent{testEvent("evt_p", t0, "sub-a"), testEvent("evt_d", t0.Add(1), "sub-b"),
		testEvent("evt_u", t0.Add(2))}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Claim(ctx, "sub-b", t0.Add(3), 1, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %d, %v", len(cs), err)
	}
	if err := s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: t0.Add(3), StatusCode: 200}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	v3 := map[string][]string{ // list/... bucket -> event ids, as version 3 kept them
		"status/pending": {"evt_p"}, "status/delivered": {"evt_d"},
		"substatus/sub-a\x00pending": {"evt_p"}, "substatus/sub-b\x00delivered": {"evt_d"},
	}
	recv := map[string]int{"evt_p": 0, "evt_d": 1}
	rewriteFile(t, dir, func(tx *bolt.Tx) error {
		for path, ids := range v3 {
			parent, name, _ := strings.Cut(path, "/")
			b, err := tx.Bucket(bktList).Bucket([]byte(parent)).CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := b.Put(timeKey(t0.Add(time.Duration(recv[id])), id), nil); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bktMeta).Put([]byte("version"), []byte("3"))
	})

	s = openTest(t, dir)
	checkIndexes(t, s) // fails on any entry left for an unlisted status
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktMeta).Get([]byte("version")); string(v) != schemaVersion {
			t.Errorf("version = %q, want %q", v, schemaVersion)
		}
		return nil
	})
	for _, tc := range []struct {
		f    gateway.EventFilter
		want string
	}{
		{gateway.EventFilter{Status: gateway.StatusPending}, "evt_p"},
		{gateway.EventFilter{Status: gateway.StatusDelivered}, "evt_d"},
		{gateway.EventFilter{Status: gateway.StatusUnrouted}, "evt_u"},
		{gateway.EventFilter{Subscriber: "sub-a", Status: gateway.StatusPending}, "evt_p"},
		{gateway.EventFilter{Subscriber: "sub-b", Status: gateway.StatusDelivered}, "evt_d"},
	} {
		page, err := s.List(ctx, tc.f)
		if err != nil || len(page.Events) != 1 || page.Events[0].ID != tc.want {
			t.Errorf("List(%+v) = %+v, %v; want %s alone", tc.f, page.Events, err, tc.want)
		}
	}
}

// TestOpenRefusesUnknownSchema checks that a file of a version this
// hookgate does not know is refused, not misread, and left as it was.
func TestOpenRefusesUnknownSchema(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir).Close()
	rewriteFile(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put([]byte("version"), []byte("9")) })
	s, err := Open(gateway.StoreConfig{Path: dir})
	if err == nil {
		s.Close()
		t.Fatal("Open of a version 9 file succeeded")
	}
	if !strings.Contains(err.Error(), `schema version "9"`) {
		t.Errorf("Open error = %v, want it to name the version", err)
	}
}
