package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.Latcher = (*Store)(nil)

// SwapState sets key to value and returns what it held ("" when never
// set): one SET ... GET, atomic on the server, so that of several
// gateways making the same transition one sees it change. The key is
// the store's own (its prefix's hash slot on a cluster) and never
// expires: there are two per subscriber.
func (s *Store) SwapState(ctx context.Context, key, value string) (string, error) {
	prev, err := s.rdb.SetArgs(ctx, s.key("state", key), value, redis.SetArgs{Get: true}).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", s.unavailable("swap state "+key, err)
	}
	return prev, nil
}
