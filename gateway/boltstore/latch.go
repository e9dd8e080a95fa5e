package boltstore

import (
	"context"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.Latcher = (*Store)(nil)

// latchPrefix keeps the shared states (gateway.Latcher) in the meta
// bucket, beside "version": a handful of keys, two per subscriber, that
// need no bucket (nor a schema version) of their own.
const latchPrefix = "latch\x00"

// SwapState sets key to value and returns what it held ("" when never
// set), in one write transaction.
func (s *Store) SwapState(ctx context.Context, key, value string) (string, error) {
	var prev string
	err := s.update(ctx, "swap state "+key, func(t *txn) error {
		meta := t.tx.Bucket(bktMeta)
		prev = string(meta.Get([]byte(latchPrefix + key)))
		return meta.Put([]byte(latchPrefix+key), []byte(value))
	})
	if err != nil {
		return "", err
	}
	return prev, nil
}
