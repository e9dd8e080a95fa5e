package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.RateLimiter = (*Store)(nil)

// TakeTokens takes up to n tokens from the subscriber's rate_limit bucket,
// shared by every gateway on the store, in one script call judged by
// Redis's clock (ratelimit.lua).
func (s *Store) TakeTokens(ctx context.Context, subscriber string, limit gateway.RateLimit, n int) (int, time.Duration, error) {
	took, wait, err := s.bucket(ctx, subscriber, limit, n, "take", time.Now())
	if err != nil {
		return 0, 0, unavailable("rate limit "+subscriber, err)
	}
	return took, wait, nil
}

// ReturnTokens puts back n unused tokens, up to the burst.
func (s *Store) ReturnTokens(ctx context.Context, subscriber string, limit gateway.RateLimit, n int) error {
	if n <= 0 {
		return nil
	}
	if _, _, err := s.bucket(ctx, subscriber, limit, n, "return", time.Now()); err != nil {
		return unavailable("rate limit "+subscriber, err)
	}
	return nil
}

func (s *Store) bucket(ctx context.Context, subscriber string, limit gateway.RateLimit, n int, op string, now time.Time) (int, time.Duration, error) {
	if !limit.Limited() || n <= 0 {
		return n, 0, nil
	}
	r, err := rateLimitScript.Run(ctx, s.rdb, []string{s.base}, subscriber,
		strconv.FormatFloat(float64(limit.Rate), 'g', -1, 64), limit.Burst, n, ms(now), s.clock(), op).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(r) != 2 {
		return 0, 0, fmt.Errorf("unexpected script reply %v", r)
	}
	return int(r[0]), time.Duration(r[1]) * time.Millisecond, nil
}
