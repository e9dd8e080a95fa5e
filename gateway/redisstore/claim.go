package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Claim leases up to max due deliveries of subscriber in one script call,
// bodies included: a claim is one round trip. The script reads the paused
// flag, and judges what is due and when the lease ends by Redis's clock.
func (s *Store) Claim(ctx context.Context, subscriber string, now time.Time, max int, lease time.Duration) ([]gateway.Claim, error) {
	if max <= 0 {
		return nil, nil
	}
	reply, err := claimScript.Run(ctx, s.rdb, []string{s.base},
		subscriber, ms(now), max, lease.Milliseconds(), newToken(), s.clock()).Slice()
	if err != nil {
		return nil, unavailable("claim "+subscriber, err)
	}
	if len(reply) == 0 {
		return nil, fmt.Errorf("claim %s: empty script reply", subscriber)
	}
	if n := num(reply[0]); n > 0 {
		s.orphans.Add(n)
	}
	rows := reply[1:]
	claims := make([]gateway.Claim, 0, len(rows))
	for _, r := range rows {
		f, ok := r.([]any)
		if !ok || len(f) != 5 {
			return nil, fmt.Errorf("claim %s: unexpected script reply %T", subscriber, r)
		}
		claims = append(claims, gateway.Claim{
			EventID:    str(f[0]),
			Subscriber: subscriber,
			Attempts:   int(num(f[1])),
			CreatedAt:  fromMS(num(f[2])),
			Body:       []byte(str(f[3])),
			Token:      str(f[4]),
		})
	}
	return claims, nil
}

// failureText is what Stats shows as the last error of a failed attempt:
// its error, else its status code.
func failureText(a gateway.Attempt) string {
	switch {
	case a.Error != "":
		return a.Error
	case a.StatusCode != 0:
		return "HTTP " + strconv.Itoa(a.StatusCode)
	default:
		return "failed"
	}
}

// Release hands the delivery back, due at at, without an attempt counted.
// at is on the caller's clock; the script queues it on Redis's.
func (s *Store) Release(ctx context.Context, c gateway.Claim, at time.Time) error {
	ok, err := releaseScript.Run(ctx, s.rdb, []string{s.base},
		c.EventID, c.Subscriber, c.Token, ms(at)).Int64()
	if err != nil {
		return unavailable(fmt.Sprintf("release %s/%s", c.EventID, c.Subscriber), err)
	}
	if ok == 0 {
		return fmt.Errorf("release %s/%s: %w", c.EventID, c.Subscriber, gateway.ErrLeaseLost)
	}
	return nil
}

// str reads a script reply field; nil (a missing hash field) is "".
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	default:
		return ""
	}
}

// num reads a numeric script reply field; missing or malformed is 0.
func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	default:
		return 0
	}
}
