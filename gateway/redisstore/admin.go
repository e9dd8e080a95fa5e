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

// tombSkew: a Sweep writes its tombstones as of this much before its
// time, so that a replay received by a gateway whose clock is behind the
// sweeping one's still finds them from the first moment (common.lua).
const tombSkew = 5 * time.Minute

// Redeliver queues the event's delivery to subscriber again (all its
// deliveries when subscriber is ""), due at now, attempts reset, history
// kept. It is queued at the earlier of now and Redis's clock, so that a
// caller whose clock runs ahead does not make it wait. A lease held on a
// redelivered delivery ends: its holder's Record gets ErrLeaseLost.
func (s *Store) Redeliver(ctx context.Context, eventID, subscriber string, now time.Time) (int, error) {
	p, err := s.findEvent(ctx, eventID)
	if err != nil {
		return 0, err
	}
	if p < 0 {
		return 0, fmt.Errorf("redeliver %s: %w", eventID, gateway.ErrNotFound)
	}
	n, err := redeliverScript.Run(ctx, s.rdb, []string{s.bases[p]}, eventID, subscriber, ms(now), s.clock()).Int()
	if err != nil {
		return 0, s.unavailable("redeliver "+eventID, err)
	}
	switch n {
	case -1:
		return 0, fmt.Errorf("redeliver %s: %w", eventID, gateway.ErrNotFound)
	case -2:
		return 0, fmt.Errorf("redeliver %s: %w", eventID, gateway.ErrConflict)
	}
	return n, nil
}

// findEvent returns the partition holding the event, or -1: the id alone
// does not say (the subject chose it), so every partition is asked, in
// one pipeline.
func (s *Store) findEvent(ctx context.Context, id string) (int, error) {
	if err := s.layout(ctx); err != nil {
		return -1, err
	}
	if s.nparts() == 1 {
		return 0, nil // the script itself answers "not found"
	}
	cmds := make([]*redis.IntCmd, s.nparts())
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for p := range cmds {
			cmds[p] = pipe.Exists(ctx, s.pkey(p, "e", id))
		}
		return nil
	})
	if err != nil {
		return -1, s.unavailable("find event "+id, err)
	}
	for p, c := range cmds {
		if c.Val() == 1 {
			return p, nil
		}
	}
	return -1, nil
}

// RedeliverDead redelivers every dead delivery of subscriber, partition
// by partition, a batch per script call.
func (s *Store) RedeliverDead(ctx context.Context, subscriber string, now time.Time) (int, error) {
	if err := s.layout(ctx); err != nil {
		return 0, err
	}
	total := 0
	for p := range s.nparts() {
		for {
			r, err := redeliverDeadScript.Run(ctx, s.rdb, []string{s.bases[p]}, subscriber, ms(now), sweepBatch, s.clock()).Int64Slice()
			if err != nil {
				return total, s.unavailable("redeliver dead "+subscriber, err)
			}
			if len(r) != 2 {
				return total, fmt.Errorf("redeliver dead %s: unexpected script reply", subscriber)
			}
			total += int(r[0])
			if r[1] < sweepBatch {
				break
			}
		}
	}
	return total, nil
}

// Sweep drops events received at or before now-retention (found through
// i:all) with their deliveries, queue and dead-set entries; then, as a
// backstop for events deleted outside hookgate, each registered
// subscriber's queue and dead-set entries scored at or before the cutoff
// whose event is gone.
func (s *Store) Sweep(ctx context.Context, now time.Time) error {
	if err := s.layout(ctx); err != nil {
		return err
	}
	cutoff := ms(now.Add(-s.retention))
	for p := range s.nparts() {
		if err := s.sweepLoop(ctx, p, sweepEventsScript, cutoff, sweepBatch,
			s.tombWin.Milliseconds(), ms(now.Add(-tombSkew))); err != nil {
			return fmt.Errorf("sweep events: %w", err)
		}
		subs, err := s.rdb.SMembers(ctx, s.pkey(p, "r", "sub")).Result()
		if err != nil {
			return s.unavailable("sweep", err)
		}
		for _, sub := range subs {
			for _, set := range []string{"q", "x"} {
				if err := s.sweepLoop(ctx, p, sweepSubScript, sub, set, cutoff, sweepBatch); err != nil {
					return fmt.Errorf("sweep %s: %w", sub, err)
				}
			}
		}
	}
	return nil
}

// sweepLoop runs a batched sweep script in partition p, which answers
// {examined, kept}, until a batch comes back short. What a script keeps
// stays at the front of its range, so the next batch starts past
// everything kept so far.
func (s *Store) sweepLoop(ctx context.Context, p int, sc *redis.Script, args ...any) error {
	kept := int64(0)
	for {
		res, err := sc.Run(ctx, s.rdb, []string{s.bases[p]}, append(args, kept)...).Int64Slice()
		if err != nil {
			return s.unavailable("sweep", err)
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
