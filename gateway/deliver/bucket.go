package deliver

import (
	"math"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// tokenBucket is an in-memory rate_limit bucket, for stores that keep
// none (not gateway.LimitedClaimers): such a store serves one process, so
// the dispatcher's own bucket is exact. It is not safe for concurrent use.
type tokenBucket struct {
	tokens float64
	at     time.Time
}

// Take takes up to n tokens at now, refilled at limit.Rate per second up
// to limit.Burst since the last call; when it took fewer than n, wait is
// how long until the next token (at least 1ms).
func (b *tokenBucket) Take(now time.Time, limit gateway.RateLimit, n int) (took int, wait time.Duration) {
	b.refill(now, limit)
	took = min(n, int(b.tokens))
	b.tokens -= float64(took)
	if took < n {
		wait = time.Duration((1 - (b.tokens - math.Floor(b.tokens))) / float64(limit.Rate) * float64(time.Second))
	}
	return took, max(wait, time.Millisecond)
}

// Return puts back n unused tokens, up to the burst.
func (b *tokenBucket) Return(limit gateway.RateLimit, n int) {
	b.tokens = min(float64(limit.Burst), b.tokens+float64(n))
}

func (b *tokenBucket) refill(now time.Time, limit gateway.RateLimit) {
	if b.at.IsZero() {
		b.tokens, b.at = float64(limit.Burst), now
		return
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(limit.Burst), b.tokens+d.Seconds()*float64(limit.Rate))
		b.at = now
	}
	b.tokens = min(b.tokens, float64(limit.Burst))
}
