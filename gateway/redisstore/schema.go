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
// ones: their listings would miss events.
const schemaVersion = "2"

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
	if !set {
		v, err := s.rdb.Get(ctx, key).Result()
		if err != nil {
			return err
		}
		if v != schemaVersion {
			return fmt.Errorf("store %s has key layout %q, this gateway writes layout %q", s.base, v, schemaVersion)
		}
	}
	s.schemaMarked.Store(true)
	return nil
}
