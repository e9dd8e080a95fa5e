package redisstore

import (
	"context"
	"fmt"
	"sort"
)

// Subscribers names every subscriber with a queued (pending or retrying)
// or dead delivery, sorted: those the subscriber registry names whose
// queue or dead set is not empty, read in one script call.
func (s *Store) Subscribers(ctx context.Context) ([]string, error) {
	if err := s.layout(ctx); err != nil {
		return nil, err
	}
	cmds := s.runParts(ctx, subscribersScript, s.allParts())
	if err := firstErr(cmds); err != nil {
		return nil, s.unavailable("subscribers", err)
	}
	seen := map[string]bool{}
	names := []string{}
	for _, c := range cmds {
		part, err := c.StringSlice()
		if err != nil {
			return nil, fmt.Errorf("subscribers: %w", err)
		}
		for _, n := range part {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// Purge deletes the subscriber's queued and dead deliveries, sweepBatch
// per script call so that Put and Claim run between the steps. Each step
// is atomic and leaves every index and count consistent, so a Purge cut
// short (an error, a canceled context) can simply be run again.
func (s *Store) Purge(ctx context.Context, subscriber string) (int, error) {
	if err := s.layout(ctx); err != nil {
		return 0, err
	}
	total := 0
	for p := range s.nparts() {
		for {
			r, err := purgeScript.Run(ctx, s.rdb, []string{s.bases[p]}, subscriber, sweepBatch).Int64Slice()
			if err != nil {
				return total, s.unavailable("purge "+subscriber, err)
			}
			if len(r) != 3 {
				return total, fmt.Errorf("purge %s: script answered %v, want {purged, orphans, examined}", subscriber, r)
			}
			total += int(r[0])
			s.orphans.Add(r[1])
			if r[2] < sweepBatch {
				break
			}
		}
	}
	return total, nil
}
