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
	names, err := subscribersScript.Run(ctx, s.rdb, []string{s.base}).StringSlice()
	if err != nil {
		return nil, unavailable("subscribers", err)
	}
	sort.Strings(names)
	return names, nil
}

// Purge deletes the subscriber's queued and dead deliveries, sweepBatch
// per script call so that Put and Claim run between the steps. Each step
// is atomic and leaves every index and count consistent, so a Purge cut
// short (an error, a canceled context) can simply be run again.
func (s *Store) Purge(ctx context.Context, subscriber string) (int, error) {
	total := 0
	for {
		r, err := purgeScript.Run(ctx, s.rdb, []string{s.base}, subscriber, sweepBatch).Int64Slice()
		if err != nil {
			return total, unavailable("purge "+subscriber, err)
		}
		if len(r) != 3 {
			return total, fmt.Errorf("purge %s: script answered %v, want {purged, orphans, examined}", subscriber, r)
		}
		total += int(r[0])
		s.orphans.Add(r[1])
		if r[2] < sweepBatch {
			return total, nil
		}
	}
}
