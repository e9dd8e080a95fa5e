package redisstore

import (
	"context"
	"fmt"
)

// schemaVersion names the key layout this package writes, recorded in
// "{prefix}:schema" by the first Put of each process. Layout 1 (no marker)
// also kept indexes per source, type, subscriber and status; its event
// hashes, queues, dead sets and stats are layout 2's, so a store written
// by it is used as it is and the old index keys (i:src:*, i:type:*,
// i:sub:*, i:st:*, i:ss:*, r:src, r:type) are left unread, to be deleted
// by hand. Gateways of layout 1 must not share the store with layout 2
// ones: their listings would miss events. Layout 3 counts each
// subscriber's retrying deliveries (s:<sub> retrying); a layout 2 store is
// migrated by counting them (recount), once, by the first gateway of
// layout 3 to write. Gateways of layout 2 must be stopped first: they
// would not keep the count.
const schemaVersion = "3"

// markSchema records schemaVersion at the store's first write, or refuses
// a store marked with another layout.
func (s *Store) markSchema(ctx context.Context) error {
	if s.schemaMarked.Load() {
		return nil
	}
	key := s.key("schema")
	set, err := s.rdb.SetNX(ctx, key, schemaVersion, 0).Result()
	if err != nil {
		return err
	}
	if set {
		// Unmarked: a new store, or one of layout 1, which counted no
		// retrying deliveries either.
		if err := s.recountRetrying(ctx); err != nil {
			return fmt.Errorf("count retrying deliveries in store %s: %w", s.base, err)
		}
	} else {
		v, err := s.rdb.Get(ctx, key).Result()
		if err != nil {
			return err
		}
		if v == "2" {
			if err := s.recountRetrying(ctx); err != nil {
				return fmt.Errorf("migrate store %s from key layout 2 to %s: %w", s.base, schemaVersion, err)
			}
			if err := s.rdb.Set(ctx, key, schemaVersion, 0).Err(); err != nil {
				return err
			}
			v = schemaVersion
		}
		if v != schemaVersion {
			return fmt.Errorf("store %s has key layout %q, this gateway writes layout %q", s.base, v, schemaVersion)
		}
	}
	s.schemaMarked.Store(true)
	return nil
}

// recountBatch is how many queue entries one recount step examines.
const recountBatch = 1000

// recountRetrying sets every subscriber's retrying count from its queue,
// in steps of recountBatch entries, so that Redis serves others between.
func (s *Store) recountRetrying(ctx context.Context) error {
	for p := range s.nparts() {
		subs, err := s.rdb.SMembers(ctx, s.pkey(p, "r", "sub")).Result()
		if err != nil {
			return err
		}
		for _, sub := range subs {
			var n int64
			for start := int64(0); ; start += recountBatch {
				c, err := recountScript.Run(ctx, s.rdb, []string{s.bases[p]}, sub, start, recountBatch).Int64()
				if err != nil {
					return err
				}
				n += c
				size, err := s.rdb.ZCard(ctx, s.pkey(p, "q", sub)).Result()
				if err != nil {
					return err
				}
				if start+recountBatch >= size {
					break
				}
			}
			if err := s.rdb.HSet(ctx, s.pkey(p, "s", sub), "retrying", n).Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
