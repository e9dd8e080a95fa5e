package deliver

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Class is what one attempt's result means for its delivery.
type Class int

// Attempt classes (SPEC 5).
const (
	// Delivered: a 2xx answer.
	Delivered Class = iota
	// Retry: the subscriber may answer later — no response (connection
	// error, timeout), 408, 429, 5xx, or a redirect, which is never followed.
	Retry
	// Permanent: any other 4xx; trying again would get the same answer.
	Permanent
	// Gone: 410, the Standard Webhooks way of saying the endpoint is no
	// more. The delivery is dead, as for Permanent, and the subscriber is
	// paused (gateway.PauseGone) until an operator resumes it.
	Gone
	// Transform: the subscriber's transform failed on this event at run
	// time, so nothing was sent; it would fail the same way again. The
	// delivery is dead (gateway.DeadTransform). Not the subscriber's
	// failure: the breaker is neither asked nor told (send records it
	// before the breaker's Allow).
	Transform
)

// String names the class for logs.
func (c Class) String() string {
	switch c {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	case Gone:
		return "gone"
	case Transform:
		return "transform"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Classifier decides the class of an attempt from the response's status
// code (0 when there was no response) and the transport error.
type Classifier func(status int, err error) Class

// Backoff returns how long to wait after the given number of failed
// attempts (1 after the first), given a random number in [0, 1).
type Backoff func(rc gateway.RetryConfig, failed int, rnd float64) time.Duration

// DefaultClassify is the SPEC 5 classification.
func DefaultClassify(status int, err error) Class {
	switch {
	case err != nil || status == 0:
		return Retry
	case status >= 200 && status < 300:
		return Delivered
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return Retry
	case status == http.StatusGone:
		return Gone
	case status >= 400 && status < 500:
		return Permanent
	default: // 1xx that reached us, 3xx, 5xx and anything odd
		return Retry
	}
}

// DefaultBackoff doubles from InitialBackoff per failed attempt, caps at
// MaxBackoff, then keeps a random part of the upper half ("equal jitter"):
// the wait is in [d/2, d], so retries of many deliveries that failed
// together spread out, yet never come sooner than half the nominal wait.
func DefaultBackoff(rc gateway.RetryConfig, failed int, rnd float64) time.Duration {
	if failed < 1 {
		failed = 1
	}
	d := rc.MaxBackoff
	// 2^62 overflows nothing; beyond that the cap applies anyway.
	if exp := failed - 1; exp < 62 {
		if f := float64(rc.InitialBackoff) * math.Exp2(float64(exp)); f < float64(rc.MaxBackoff) {
			d = time.Duration(f)
		}
	}
	if rnd < 0 {
		rnd = 0
	}
	if rnd > 1 {
		rnd = 1
	}
	return d/2 + time.Duration(rnd*float64(d-d/2))
}

// ParseRetryAfter reads a Retry-After value, delta seconds or an HTTP date,
// as a wait from now; a date in the past is a wait of zero. ok is false
// when the value is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(math.MaxInt64/time.Second) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if wait = at.Sub(now); wait < 0 {
		wait = 0
	}
	return wait, true
}

// Result is what one attempt produced, as the policy needs it.
type Result struct {
	Class      Class
	StatusCode int
	// RetryAfter is the parsed Retry-After of a 429 or 503, if it had one.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// Decide turns an attempt's result into the delivery's outcome (its
// Attempt left for the caller to fill in). c is the claim before the
// attempt; now is the attempt's end. A delivery is dead, and this is the
// one place that says why (gateway.DeadReason): gone after a 410,
// permanent after another permanent failure, transform when the
// subscriber's transform failed, attempts when this attempt reaches
// MaxAttempts, max_age when it failed and MaxAge has passed since
// CreatedAt. It is never dead without a failed attempt, so the breaker
// holding deliveries back costs nothing.
func Decide(rc gateway.RetryConfig, backoff Backoff, c gateway.Claim, r Result, now time.Time, rnd float64) gateway.Outcome {
	dead := func(why gateway.DeadReason) gateway.Outcome {
		return gateway.Outcome{Status: gateway.StatusDead, DeadReason: why}
	}
	switch {
	case r.Class == Delivered:
		return gateway.Outcome{Status: gateway.StatusDelivered}
	case r.Class == Gone:
		return dead(gateway.DeadGone)
	case r.Class == Permanent:
		return dead(gateway.DeadPermanent)
	case r.Class == Transform:
		return dead(gateway.DeadTransform)
	case c.Attempts+1 >= rc.MaxAttempts:
		return dead(gateway.DeadAttempts)
	case rc.MaxAge > 0 && now.Sub(c.CreatedAt) >= rc.MaxAge:
		return dead(gateway.DeadMaxAge)
	}
	wait := backoff(rc, c.Attempts+1, rnd)
	if r.HasRetryAfter && (r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusServiceUnavailable) {
		// Honoured up to max_backoff, but never sooner than
		// initial_backoff: "Retry-After: 0" must not let a subscriber burn
		// every attempt in a few milliseconds.
		wait = max(min(r.RetryAfter, rc.MaxBackoff), rc.InitialBackoff)
	}
	return gateway.Outcome{Status: gateway.StatusRetrying, NextAttemptAt: now.Add(wait)}
}
