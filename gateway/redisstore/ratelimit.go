package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.LimitedClaimer = (*Store)(nil)

// ClaimLimited is Claim within the subscriber's rate_limit, the token
// bucket every gateway on the store shares (common.lua), judged by
// Redis's clock. With one partition the bucket shares the partition's tag
// and the claim script takes a token per lease in the same step: one
// round trip. With several, the bucket is under the store's own tag: the
// partitions are peeked first, tokens are taken for the due deliveries
// only (ratelimit.lua), and those not used are given back.
func (s *Store) ClaimLimited(ctx context.Context, subscriber string, now time.Time, want int, lease time.Duration, limit gateway.RateLimit) ([]gateway.Claim, time.Duration, error) {
	if !limit.Limited() {
		claims, err := s.Claim(ctx, subscriber, now, want, lease)
		return claims, 0, err
	}
	if want <= 0 {
		return nil, 0, nil
	}
	if err := s.layout(ctx); err != nil {
		return nil, 0, err
	}
	if s.nparts() == 1 {
		tok := s.claimToken(subscriber, 0)
		claims, wait, err := s.claimReply(subscriber, claimScript.Run(ctx, s.rdb, []string{s.bases[0]},
			subscriber, ms(now), want, lease.Milliseconds(), tok, s.clock(), rateArg(limit), limit.Burst))
		if err != nil {
			s.claimFailed(subscriber, 0, tok, err)
		}
		return s.trimClaims(ctx, claims, want, now), wait, err
	}
	claims, wait, err := s.claimParts(ctx, subscriber, now, want, lease, limit)
	return s.trimClaims(ctx, claims, want, now), wait, err
}

// giveBack returns n tokens taken and not used, up to the burst. A failure
// costs only those tokens, for one refill.
func (s *Store) giveBack(ctx context.Context, subscriber string, limit gateway.RateLimit, n int, now time.Time) {
	if n > 0 && limit.Limited() {
		_, _, _ = s.bucket(ctx, subscriber, limit, n, "return", now)
	}
}

func rateArg(limit gateway.RateLimit) string {
	return strconv.FormatFloat(float64(limit.Rate), 'g', -1, 64)
}

// bucket takes (op "take") or returns n tokens of the subscriber's bucket
// in one script call (ratelimit.lua).
func (s *Store) bucket(ctx context.Context, subscriber string, limit gateway.RateLimit, n int, op string, now time.Time) (int, time.Duration, error) {
	if !limit.Limited() || n <= 0 {
		return n, 0, nil
	}
	r, err := rateLimitScript.Run(ctx, s.rdb, []string{s.base}, subscriber,
		rateArg(limit), limit.Burst, n, ms(now), s.clock(), op).Int64Slice()
	if err != nil {
		return 0, 0, s.unavailable("rate limit "+subscriber, err)
	}
	if len(r) != 2 {
		return 0, 0, fmt.Errorf("rate limit %s: unexpected script reply %v", subscriber, r)
	}
	return int(r[0]), time.Duration(r[1]) * time.Millisecond, nil
}
