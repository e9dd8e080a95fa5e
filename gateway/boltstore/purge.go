package boltstore

import (
	"bytes"
	"context"
	"sort"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.HealthReporter = (*Store)(nil)

// Health reports the store's setup. No setting of the embedded store loses
// accepted events (every commit is fsynced), so there are no warnings;
// Orphans counts the dangling queue entries dropped since Open, and
// Corrupt the records in the file's corrupt bucket (corrupt.go), set
// aside since it was created.
func (s *Store) Health(ctx context.Context) (gateway.StoreHealth, error) {
	if err := s.Ping(ctx); err != nil {
		return gateway.StoreHealth{}, wrap("health", err)
	}
	h := gateway.StoreHealth{Warnings: []string{}, Orphans: s.orphans.Load()}
	err := s.view(ctx, "health", func(t *txn) error {
		h.Corrupt = t.corruptCount()
		return nil
	})
	return h, err
}

// Subscribers names, sorted, every subscriber with an entry in the due
// index (a pending or retrying delivery) or the dead index: one nested
// bucket each, so this reads a key or two per subscriber, not the
// deliveries. An index bucket left empty (bbolt keeps it) names no one.
func (s *Store) Subscribers(ctx context.Context) ([]string, error) {
	names := []string{}
	err := s.view(ctx, "subscribers", func(t *txn) error {
		seen := map[string]bool{}
		for _, parent := range []*bolt.Bucket{t.due, t.dead} {
			err := parent.ForEachBucket(func(name []byte) error {
				if k, _ := parent.Bucket(name).Cursor().First(); k != nil && !seen[string(name)] {
					seen[string(name)] = true
					names = append(names, string(name))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		sort.Strings(names)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// Purge deletes the subscriber's pending, retrying and dead deliveries,
// with their history, by walking its due index and then its dead index, a
// chunk per transaction so that Put is held up by one chunk at most. A
// leased delivery loses its lease (the holder's Record gets
// ErrLeaseLost); delivered ones are not in either index and stay. On
// error it returns what the chunks before deleted; those stay deleted.
func (s *Store) Purge(ctx context.Context, sub string) (int, error) {
	n, err := chunked(ctx, s, "purge "+sub, 0, func(t *txn, n int) (int, bool, error) {
		deleted, more, err := t.purgeChunk(sub, s.chunk, &s.orphans)
		return n + deleted, !more, err
	})
	return n, err
}

// purgeChunk visits up to max entries of sub's due index, then of its dead
// index, deleting the delivery each names. Every entry visited leaves its
// index (a dangling one is dropped), so each chunk starts at the front;
// more reports that entries may be left.
func (t *txn) purgeChunk(sub string, max int, orphans *atomic.Int64) (deleted int, more bool, err error) {
	visited := 0
	for _, dead := range []bool{false, true} {
		parent := t.due
		if dead {
			parent = t.dead
		}
		idx := parent.Bucket([]byte(sub))
		if idx == nil {
			continue
		}
		var keys [][]byte
		c := idx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if visited == max {
				more = true
				break
			}
			keys = append(keys, bytes.Clone(k))
			visited++
		}
		for _, k := range keys {
			ok, err := t.purgeEntry(sub, idx, k, dead, orphans)
			if err != nil {
				return 0, false, err
			}
			if ok {
				deleted++
			}
		}
		if more {
			break
		}
	}
	return deleted, more, nil
}

// purgeEntry deletes the delivery that key k of sub's due index (idx; its
// dead index when dead is set) names, or drops k if it names none: a due
// entry without its event is an orphan, and counted.
func (t *txn) purgeEntry(sub string, idx *bolt.Bucket, k []byte, dead bool, orphans *atomic.Int64) (deleted bool, err error) {
	_, id := splitTimeKey(k)
	ev, ok, err := t.getEvent(id, false)
	if err != nil {
		return false, err
	}
	if !ok {
		if dead {
			return false, idx.Delete(k)
		}
		return false, t.dropOrphan(idx, k, orphans)
	}
	rec, found, err := t.getDelivery(eventKey(ev.ReceivedAt, id), sub)
	if err != nil {
		return false, err
	}
	if found && rec.indexedAt(k, id, dead) {
		if rec.Ordered && ev.Subject != "" {
			if err := t.dropLine(sub, ev.Subject); err != nil {
				return false, err
			}
		}
		return true, t.deleteDelivery(id, sub, ev.ReceivedAt, &rec, true)
	}
	return false, idx.Delete(k)
}
