package gateway

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RateLimit is a subscriber's rate_limit: at most Rate attempts start per
// second, all gateways sharing a store together, with bursts of up to
// Burst. The zero value is no limit.
//
// In YAML it is a rate, "200/s" or "30/m", or a block {rate: 200/s,
// burst: 50}; the burst defaults to one second's worth (at least 1).
type RateLimit struct {
	Rate  Rate `yaml:"rate"`
	Burst int  `yaml:"burst"`
}

// Limited reports whether a limit is set.
func (r RateLimit) Limited() bool { return r.Rate > 0 }

// String is the limit as the config writes it: "20/s, burst 20".
func (r RateLimit) String() string {
	if !r.Limited() {
		return "none"
	}
	return fmt.Sprintf("%s, burst %d", r.Rate, r.Burst)
}

// Rate is a number of events per second, written "N/s" or "N/m".
type Rate float64

// ParseRate reads "200/s", "0.5/s" or "30/m".
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	per := map[string]float64{"s": 1, "m": 60}[strings.TrimSpace(unit)]
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || per == 0 || err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("invalid rate %q (want e.g. 200/s or 30/m)", s)
	}
	return Rate(n / per), nil
}

func (r Rate) String() string {
	if r < 1 && r > 0 {
		return strconv.FormatFloat(float64(r)*60, 'f', -1, 64) + "/m"
	}
	return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"
}

// Rate limit bounds, so that a typo cannot make a bucket that never
// refills or never empties.
const (
	MinRate  Rate = 1.0 / 3600
	MaxRate  Rate = 1e6
	MaxBurst      = 1_000_000
)

// LimitedClaimer is implemented by stores that keep rate_limit buckets
// where every gateway sharing the store draws from them (Redis). A store
// without it is used by one process only, and the delivery engine keeps
// the buckets in memory (package deliver's tokenBucket).
type LimitedClaimer interface {
	// ClaimLimited is Store.Claim within the subscriber's rate limit: a
	// token bucket refilling at limit.Rate per second up to limit.Burst,
	// judged by the store's clock. Each delivery leased takes a token; one
	// due that finds none stays queued, no attempt spent. When it leased
	// fewer than max for want of tokens, wait is how long until the next
	// (0 otherwise). Tokens are taken only for deliveries that are due.
	ClaimLimited(ctx context.Context, subscriber string, now time.Time, max int, lease time.Duration, limit RateLimit) (claims []Claim, wait time.Duration, err error)
}
