package redisstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// Partitions. A store's keys are split into a number of partitions fixed
// when the store is first written and recorded in it ("{prefix}:partitions").
// Partition p's keys share the hash tag "{prefix:p}" (one partition: the
// tag "{prefix}", the layout of stores written before partitions), so
// every script touches one slot and a Redis Cluster spreads the
// partitions over its masters.
//
// An event's partition is chosen by its subject (by its id when it has no
// subject): a provider's redelivery has the same subject, so dedupe finds
// it where it was stored, and the events of one subject, from any source,
// share a partition, which keeps ordering per subject one script's work.
// Operations that know only an event id (Event, Redeliver) look in every
// partition; a lease token names its partition.
const (
	// MaxPartitions bounds store.redis.partitions.
	MaxPartitions = 1024
	// clusterPartitions is the count a new store gets on a Redis Cluster
	// when the config names none: enough for the slots to spread over a
	// dozen masters. A single server or Sentinel gets one: there is
	// nothing to spread over, and one partition is the cheapest.
	clusterPartitions = 16
)

// layout resolves the store's partition count once: the one recorded in
// the store, else the configured one (or the default for the kind of
// Redis), recorded for every gateway after. A configured count that
// differs from the recorded one is an error that every operation returns.
func (s *Store) layout(ctx context.Context) error {
	if s.parts.Load() > 0 {
		return nil
	}
	s.layoutMu.Lock()
	defer s.layoutMu.Unlock()
	if s.parts.Load() > 0 {
		return nil
	}
	key := s.key("partitions")
	v, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		want := s.wantParts
		// A store written before partitions has a schema marker and no
		// count: it is one partition.
		if n, err := s.rdb.Exists(ctx, s.key("schema")).Result(); err != nil {
			return s.unavailable("read partitions", err)
		} else if n == 1 {
			want = 1
		} else if want == 0 {
			want = 1
			if _, ok := s.rdb.(*redis.ClusterClient); ok {
				want = clusterPartitions
			}
		}
		if _, err := s.rdb.SetNX(ctx, key, want, 0).Result(); err != nil {
			return s.unavailable("record partitions", err)
		}
		v, err = s.rdb.Get(ctx, key).Result()
	}
	if err != nil {
		return s.unavailable("read partitions", err)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPartitions {
		return fmt.Errorf("store %s records %q partitions, not a count", s.base, v)
	}
	if s.wantParts != 0 && s.wantParts != n {
		return fmt.Errorf("store %s has %d partitions and store.redis.partitions is %d: "+
			"the count is fixed when a store is first written (remove the key or start a new prefix)", s.base, n, s.wantParts)
	}
	bases := make([]string, n)
	for p := range bases {
		bases[p] = s.partBase(n, p)
	}
	s.bases = bases
	s.parts.Store(int32(n))
	return nil
}

// partBase is partition p's hash tag among n: "{prefix:p}", or
// "{prefix:p.k}" with the least k that puts it in the p-th n-th of the
// cluster's 16384 slots. Clusters give each master a contiguous range of
// slots, so tags spread evenly over the slot space spread evenly over the
// masters; plain "{prefix:p}" tags fall where CRC16 puts them, and 16 of
// them over 3 masters can leave one master half the load.
func (s *Store) partBase(n, p int) string {
	if n == 1 {
		return s.base
	}
	tag := s.prefix + ":" + strconv.Itoa(p)
	for k := 0; k < 100*n; k++ {
		t := tag
		if k > 0 {
			t += "." + strconv.Itoa(k)
		}
		if int(keySlot(t))*n/clusterSlots == p {
			return "{" + t + "}"
		}
	}
	return "{" + tag + "}"
}

// clusterSlots is how many hash slots a Redis Cluster has.
const clusterSlots = 16384

// keySlot is the Redis Cluster hash slot of a hash tag's content: CRC16
// (XMODEM) modulo 16384.
func keySlot(tag string) uint16 {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % clusterSlots
}

// nparts is the partition count; layout must have succeeded.
func (s *Store) nparts() int { return int(s.parts.Load()) }

// pkey joins parts under partition p's hash tag.
func (s *Store) pkey(p int, parts ...string) string {
	return s.bases[p] + ":" + strings.Join(parts, ":")
}

// partOf is the partition of an event: by subject, else id.
func (s *Store) partOf(e gateway.Envelope) int {
	n := s.nparts()
	if n == 1 {
		return 0
	}
	h := fnv.New32a()
	if e.Subject != "" {
		h.Write([]byte(e.Subject))
	} else {
		h.Write([]byte(e.ID))
	}
	return int(h.Sum32() % uint32(n))
}

// tokenPrefix is the lease token prefix for a claim in partition p: the
// partition, then random hex. Tokens without the prefix (one partition,
// or leases granted before partitions) are partition 0's.
func tokenPrefix(p int) string { return "p" + strconv.Itoa(p) + "." + newToken() }

// tokenPart reads the partition of a lease token; ok is false for a token
// that names one out of range.
func (s *Store) tokenPart(tok string) (int, bool) {
	rest, found := strings.CutPrefix(tok, "p")
	if !found {
		return 0, true
	}
	num, _, found := strings.Cut(rest, ".")
	p, err := strconv.Atoi(num)
	if !found || err != nil {
		return 0, true
	}
	return p, p >= 0 && p < s.nparts()
}

// partJob is one script call in one partition.
type partJob struct {
	p    int
	args []any
}

// runParts runs script once per job, in its partition, and returns each
// job's reply in order. One job is a plain call; several are sent as one
// pipeline (on a cluster, go-redis sends one per master, in parallel).
// A server that lost its script cache gets the script again for the jobs
// it refused.
func (s *Store) runParts(ctx context.Context, script *redis.Script, jobs []partJob) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(jobs))
	if len(jobs) == 1 {
		cmds[0] = script.Run(ctx, s.rdb, []string{s.bases[jobs[0].p]}, jobs[0].args...)
		return cmds
	}
	_, _ = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, j := range jobs {
			cmds[i] = script.EvalSha(ctx, pipe, []string{s.bases[j.p]}, j.args...)
		}
		return nil
	})
	for i, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			cmds[i] = script.Run(ctx, s.rdb, []string{s.bases[jobs[i].p]}, jobs[i].args...)
		}
	}
	return cmds
}

// allParts is one job per partition, each with the same arguments.
func (s *Store) allParts(args ...any) []partJob {
	jobs := make([]partJob, s.nparts())
	for p := range jobs {
		jobs[p] = partJob{p: p, args: args}
	}
	return jobs
}

// firstErr is the first error among the replies.
func firstErr(cmds []*redis.Cmd) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}
