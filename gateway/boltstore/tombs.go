package boltstore

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"time"
)

// Tombstones (store.tombstone_window). When Sweep removes an event at
// retention, its id goes on being recognized as a tombstone: 8 bytes of
// a hash of the id, so that a replay of a captured request long after is
// answered as a duplicate, not stored and fanned out anew.
//
// Tombstones are kept in generations of one window each, a nested bucket
// of the tombs bucket per generation, named by its number (8 bytes,
// big-endian: floor(ms since 1970 / window)). A tombstone goes into the
// generation of the Sweep that wrote it (of its time less tombSkew, so
// that a replay received by a gateway whose clock is behind still finds
// it); Put looks in the generation of the event's receipt time and the
// one before; Sweep drops generations older than those. So an id is
// recognized for one to two windows after its event was removed, and the
// tombstones held are at most two windows' worth of removed events.

// tombSkew is how far behind the sweeping gateway's clock another's may
// be for a tombstone to be found from the first moment.
const tombSkew = 5 * time.Minute

// tombHash is an id's tombstone: 60 bits of its SHA-1, the same bits that
// redisstore keeps (16 for its shard, 44 for the member), big-endian.
func tombHash(id string) []byte {
	sum := sha1.Sum([]byte(id))
	v := binary.BigEndian.Uint64(sum[:8]) >> 4
	return u64(v)
}

// tombGen is the generation that time t falls in, for a window win.
func tombGen(t time.Time, win time.Duration) uint64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms) / uint64(win.Milliseconds())
}

// tombstoned reports whether id has a tombstone recognized at recv.
func (t *txn) tombstoned(id string, recv time.Time, win time.Duration) bool {
	g, h := tombGen(recv, win), tombHash(id)
	for _, gen := range []uint64{g, g - 1} {
		if b := t.tombs.Bucket(u64(gen)); b != nil && b.Get(h) != nil {
			return true
		}
		if g == 0 {
			break
		}
	}
	return false
}

// addTomb writes id's tombstone, for a Sweep at now.
func (t *txn) addTomb(id string, now time.Time, win time.Duration) error {
	b, err := t.tombs.CreateBucketIfNotExists(u64(tombGen(now.Add(-tombSkew), win)))
	if err != nil {
		return err
	}
	return b.Put(tombHash(id), []byte{})
}

// sweepTombs deletes up to max tombstones of the generations older than
// the one before now's (those Put no longer looks in), and a generation's
// bucket once it is empty; more reports that some may be left.
func (t *txn) sweepTombs(now time.Time, win time.Duration, max int) (more bool, err error) {
	keep := u64(tombGen(now, win) - 1)
	if tombGen(now, win) == 0 {
		return false, nil
	}
	c := t.tombs.Cursor()
	for name, v := c.First(); name != nil && bytes.Compare(name, keep) < 0; name, v = c.Next() {
		if v != nil {
			continue // not a generation's bucket
		}
		b := t.tombs.Bucket(name)
		var keys [][]byte
		bc := b.Cursor()
		for k, _ := bc.First(); k != nil && len(keys) < max; k, _ = bc.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return false, err
			}
		}
		if len(keys) == max {
			return true, nil
		}
		if err := t.tombs.DeleteBucket(bytes.Clone(name)); err != nil {
			return false, err
		}
		return true, nil // the cursor is stale after the delete: go on in the next chunk
	}
	return false, nil
}
