package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// Claim leases up to want due deliveries of subscriber, oldest due first,
// bodies included. The claim script reads the paused flag, and judges what
// is due and when the lease ends by Redis's clock. With one partition a
// claim is one script call. With several, it is two rounds of one
// pipeline each (on a cluster, one round trip per master): every
// partition names its want oldest due deliveries (peek.lua), and each is
// then asked to lease as many of its own as are among the want oldest of
// all. A delivery taken by another gateway between the rounds is not
// replaced: the claim comes back short, and the caller claims again.
func (s *Store) Claim(ctx context.Context, subscriber string, now time.Time, want int, lease time.Duration) ([]gateway.Claim, error) {
	if want <= 0 {
		return nil, nil
	}
	if err := s.layout(ctx); err != nil {
		return nil, err
	}
	if s.nparts() == 1 {
		tok := s.claimToken(subscriber, 0)
		cmds, err := s.runDurableEach(ctx, claimScript, []partJob{{p: 0, args: []any{
			subscriber, ms(now), want, lease.Milliseconds(), tok, s.clock(), "", ""}}}, "redisstore.claim", false)
		if err != nil {
			return nil, s.unavailable("claim "+subscriber, err)
		}
		claims, _, err := s.claimReply(subscriber, cmds[0])
		if err != nil {
			s.claimFailed(subscriber, 0, tok, err)
		}
		return s.trimClaims(ctx, claims, want, now), err
	}
	claims, _, err := s.claimParts(ctx, subscriber, now, want, lease, gateway.RateLimit{})
	return s.trimClaims(ctx, claims, want, now), err
}

// claimParts claims across partitions: it peeks every partition for its
// want oldest due deliveries, keeps the want oldest of all, takes as many
// tokens from the rate limit's bucket (if limited: only for work that is
// due), and asks each partition to lease its share, in one pipeline each
// round. Tokens the partitions did not use (another gateway leased those
// deliveries in between) go back to the bucket. wait is the bucket's when
// it ran short.
func (s *Store) claimParts(ctx context.Context, subscriber string, now time.Time, want int, lease time.Duration,
	limit gateway.RateLimit) ([]gateway.Claim, time.Duration, error) {
	peeks := s.runParts(ctx, peekScript, s.allParts(subscriber, ms(now), want, s.clock()))
	if err := firstErr(peeks); err != nil {
		return nil, 0, s.unavailable("claim "+subscriber, err)
	}
	type due struct {
		score int64
		id    string
		p     int
	}
	var all []due
	for p, c := range peeks {
		v, _ := c.Val().([]any)
		for i := 0; i+1 < len(v); i += 2 {
			all = append(all, due{num(v[i+1]), str(v[i]), p})
		}
	}
	if len(all) == 0 {
		return nil, 0, nil
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score < all[j].score
		}
		return all[i].id < all[j].id
	})
	n := min(len(all), want)
	var wait time.Duration
	if limit.Limited() {
		granted, w, err := s.bucket(ctx, subscriber, limit, n, "take", now)
		if err != nil {
			return nil, 0, err
		}
		n, wait = granted, w
	}
	take := make([]int, s.nparts())
	for _, d := range all[:n] {
		take[d.p]++
	}
	var jobs []partJob
	for p, k := range take {
		if k > 0 {
			jobs = append(jobs, partJob{p: p, args: []any{subscriber, ms(now), k, lease.Milliseconds(), s.claimToken(subscriber, p), s.clock(), "", ""}})
		}
	}
	var claims []gateway.Claim
	var firstErr error
	if len(jobs) > 0 {
		// Leases confirmed by a replica (runDurableEach), so that a
		// failover does not lose a lease whose delivery is being sent and
		// let another gateway send it too; a claim not confirmed is
		// handed out by the next claim call, sent with its token again.
		cmds, err := s.runDurableEach(ctx, claimScript, jobs, "redisstore.claim", false)
		if err != nil {
			s.giveBack(ctx, subscriber, limit, n, now)
			return nil, 0, s.unavailable("claim "+subscriber, err)
		}
		for i, cmd := range cmds {
			got, _, err := s.claimReply(subscriber, cmd)
			if err != nil {
				s.claimFailed(subscriber, jobs[i].p, jobs[i].args[4].(string), err)
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			claims = append(claims, got...)
		}
	}
	if len(claims) < n {
		s.giveBack(ctx, subscriber, limit, n-len(claims), now)
	}
	if len(claims) == 0 && firstErr != nil {
		return nil, 0, firstErr
	}
	// What some partitions leased stays leased even if another failed:
	// those claims are handed out; the failed partition is asked again
	// at the next claim.
	order := make(map[string]int, len(all))
	for i, d := range all {
		order[d.id] = i
	}
	sort.SliceStable(claims, func(i, j int) bool { return order[claims[i].EventID] < order[claims[j].EventID] })
	return claims, wait, nil
}

// claimReply reads one claim script reply: the claims, and the rate
// limit's wait.
func (s *Store) claimReply(subscriber string, cmd *redis.Cmd) ([]gateway.Claim, time.Duration, error) {
	reply, err := cmd.Slice()
	if err != nil {
		return nil, 0, s.unavailable("claim "+subscriber, err)
	}
	if len(reply) < 2 {
		return nil, 0, fmt.Errorf("claim %s: short script reply", subscriber)
	}
	if n := num(reply[0]); n > 0 {
		s.orphans.Add(n)
	}
	wait := time.Duration(num(reply[1])) * time.Millisecond
	rows := reply[2:]
	claims := make([]gateway.Claim, 0, len(rows))
	for _, r := range rows {
		f, ok := r.([]any)
		if !ok || len(f) != 5 {
			return nil, 0, fmt.Errorf("claim %s: unexpected script reply %T", subscriber, r)
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
	return claims, wait, nil
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
	if err := s.layout(ctx); err != nil {
		return err
	}
	p, ok := s.tokenPart(c.Token)
	if !ok {
		return fmt.Errorf("release %s/%s: %w", c.EventID, c.Subscriber, gateway.ErrLeaseLost)
	}
	ok2, err := releaseScript.Run(ctx, s.rdb, []string{s.bases[p]},
		c.EventID, c.Subscriber, c.Token, ms(at)).Int64()
	if err != nil {
		return s.unavailable(fmt.Sprintf("release %s/%s", c.EventID, c.Subscriber), err)
	}
	if ok2 == 0 {
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
