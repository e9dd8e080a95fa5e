package redisstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Claims whose reply was lost. A claim call that fails on a lost
// connection or a timeout may have leased deliveries all the same, and
// those would wait unused until their leases end (twice a subscriber's
// timeout plus 10s). So the next claim of that subscriber in that
// partition is sent with the same token prefix: claim.lua then answers
// what the lost call leased (cl:<sub>:<token>), and leases nothing more.
type lostClaims struct {
	mu sync.Mutex
	m  map[lostClaim]string // the token prefix to send again
}

type lostClaim struct {
	sub string
	p   int
}

// claimToken is the token prefix of the subscriber's next claim call in
// partition p: a lost call's, once, else a new one.
func (s *Store) claimToken(sub string, p int) string {
	s.lost.mu.Lock()
	defer s.lost.mu.Unlock()
	k := lostClaim{sub, p}
	if tok, ok := s.lost.m[k]; ok {
		delete(s.lost.m, k)
		return tok
	}
	return tokenPrefix(p)
}

// claimFailed notes a claim call sent with tok that failed with err: when
// err says the reply may have been lost, or that no replica confirmed
// the leases (they stand on the master, unconfirmed), the next claim
// sends tok again. The map holds at most one entry per subscriber and
// partition.
func (s *Store) claimFailed(sub string, p int, tok string, err error) {
	if !nodeFault(err) && !errors.Is(err, errNoReplica) {
		return
	}
	s.lost.mu.Lock()
	defer s.lost.mu.Unlock()
	if s.lost.m == nil {
		s.lost.m = map[lostClaim]string{}
	}
	s.lost.m[lostClaim{sub, p}] = tok
}

// trimClaims keeps at most want claims, handing the rest back due at now:
// a lost call sent again answers what it leased, which may be more than
// this call wants. A failed hand-back costs that delivery its lease's
// wait, no more.
func (s *Store) trimClaims(ctx context.Context, claims []gateway.Claim, want int, now time.Time) []gateway.Claim {
	if len(claims) <= want {
		return claims
	}
	for _, c := range claims[want:] {
		_ = s.Release(ctx, c, now)
	}
	return claims[:want]
}
