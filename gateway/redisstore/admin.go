package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// sweepBatch bounds the work of one script call in the batched loops
// (RedeliverDead, Purge, Sweep), so that no call blocks Redis for long.
const sweepBatch = 500

// Redeliver queues the event's delivery to subscriber again (all its
// deliveries when subscriber is ""), due at now, attempts reset, history
// kept. It is queued at the earlier of now and Redis's clock, so that a
// caller whose clock runs ahead does not make it wait. A lease held on a
// redelivered delivery ends: its holder's Record gets ErrLeaseLost.
func (s *Store) Redeliver(ctx context.Context, eventID, subscriber string, now time.Time) (int, error) {
	n, err := redeliverScript.Run(ctx, s.rdb, []string{s.base}, eventID, subscriber, ms(now), s.clock()).Int()
	if err != nil {
		return 0, unavailable("redeliver "+eventID, err)
	}
	switch n {
	case -1:
		return 0, fmt.Errorf("redeliver %s: %w", eventID, gateway.ErrNotFound)
	case -2:
		return 0, fmt.Errorf("redeliver %s: %w", eventID, gateway.ErrConflict)
	}
	return n, nil
}

// RedeliverDead redelivers every dead delivery of subscriber, a batch per
// script call.
func (s *Store) RedeliverDead(ctx context.Context, subscriber string, now time.Time) (int, error) {
	total := 0
	for {
		r, err := redeliverDeadScript.Run(ctx, s.rdb, []string{s.base}, subscriber, ms(now), sweepBatch, s.clock()).Int64Slice()
		if err != nil {
			return total, unavailable("redeliver dead "+subscriber, err)
		}
		if len(r) != 2 {
			return total, fmt.Errorf("redeliver dead %s: unexpected script reply", subscriber)
		}
		total += int(r[0])
		if r[1] < sweepBatch {
			return total, nil
		}
	}
}

// Sweep drops events received at or before now-retention (found through
// i:all) with their deliveries, queue and dead-set entries; then, as a
// backstop for events deleted outside hookgate, each registered
// subscriber's queue and dead-set entries scored at or before the cutoff
// whose event is gone.
func (s *Store) Sweep(ctx context.Context, now time.Time) error {
	cutoff := ms(now.Add(-s.retention))
	if err := s.sweepLoop(ctx, sweepEventsScript, cutoff, sweepBatch); err != nil {
		return fmt.Errorf("sweep events: %w", err)
	}
	subs, err := s.rdb.SMembers(ctx, s.key("r", "sub")).Result()
	if err != nil {
		return unavailable("sweep", err)
	}
	for _, sub := range subs {
		for _, set := range []string{"q", "x"} {
			if err := s.sweepLoop(ctx, sweepSubScript, sub, set, cutoff, sweepBatch); err != nil {
				return fmt.Errorf("sweep %s: %w", sub, err)
			}
		}
	}
	return nil
}

// sweepLoop runs a batched sweep script, which answers {examined, kept},
// until a batch comes back short. What a script keeps stays at the front of
// its range, so the next batch starts past everything kept so far.
func (s *Store) sweepLoop(ctx context.Context, sc *redis.Script, args ...any) error {
	kept := int64(0)
	for {
		res, err := sc.Run(ctx, s.rdb, []string{s.base}, append(args, kept)...).Int64Slice()
		if err != nil {
			return unavailable("sweep", err)
		}
		if len(res) != 2 {
			return fmt.Errorf("sweep: script answered %v, want {examined, kept}", res)
		}
		kept += res[1]
		if res[0] < sweepBatch {
			return nil
		}
	}
}
