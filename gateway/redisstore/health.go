package redisstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.HealthReporter = (*Store)(nil)

// Health checks the settings of the Redis that holds the store's keys
// (on a cluster, the master of their slot) under which accepted events
// could be lost: an evicting maxmemory-policy drops keys, events included,
// when memory runs short; without AOF a crash loses what was written since
// the last snapshot; and replicas that writes are not waited for (or that
// min_replicas waits for in vain) make a failover lose acknowledged events
// (or every write refused). All of it comes from one INFO per master, the
// one command of Redis's admin set hookgate needs (CONFIG would also show
// passwords). Managed Redis services and least-privilege ACLs may refuse
// INFO: a warning (the operator checks by hand), not an error. Warnings
// never quote Redis's error replies, nor the URL.
func (s *Store) Health(ctx context.Context) (gateway.StoreHealth, error) {
	h := gateway.StoreHealth{Warnings: []string{}, Orphans: s.orphans.Load()}
	if s.replicasLost() {
		h.Warnings = append(h.Warnings, "the Redis master had replicas, but none has been connected for 5 minutes: "+
			"events are acknowledged without a replica's confirmation, and a failover now could lose them")
	}
	if err := s.layout(ctx); err != nil {
		return h, err
	}
	nodes, _, err := s.masters(ctx, s.allParts())
	if err != nil {
		return h, s.unavailable("health", err)
	}
	seen := map[string]bool{}
	for _, node := range nodes {
		ws, err := nodeWarnings(ctx, node, s.replicas.want)
		if err != nil {
			return h, s.unavailable("health", err)
		}
		for _, w := range ws {
			if !seen[w] {
				seen[w] = true
				h.Warnings = append(h.Warnings, w)
			}
		}
	}
	return h, nil
}

// nodeWarnings checks one master's eviction policy, AOF and replicas
// against min_replicas.
func nodeWarnings(ctx context.Context, node *redis.Client, want gateway.MinReplicas) ([]string, error) {
	info, err := node.Info(ctx, "persistence", "memory", "replication").Result()
	if refused(err) {
		ws := []string{"Redis refused INFO (renamed or not permitted): " +
			"check by hand that appendonly is yes and maxmemory-policy is noeviction, or Redis may lose accepted events"}
		if !want.Fixed {
			ws = append(ws, "Redis refused INFO, so hookgate cannot tell whether the master has replicas that must confirm each write: "+
				"every write is refused (503) until you set store.redis.min_replicas (the replicas to wait for, 0 for none) "+
				"or grant INFO to hookgate's Redis user")
		}
		return ws, nil
	}
	if err != nil {
		return nil, err
	}
	var ws []string
	switch policy := infoField(info, "maxmemory_policy"); {
	case policy == "noeviction":
	case !settingWord.MatchString(policy):
		ws = append(ws, "Redis did not report its maxmemory-policy: "+
			"check by hand that it is noeviction, or Redis may evict accepted events when memory runs short")
	default:
		ws = append(ws, "Redis maxmemory-policy is "+policy+", not noeviction: "+
			"Redis may evict accepted events when memory runs short")
	}
	switch aof := infoField(info, "aof_enabled"); aof {
	case "1":
	case "0":
		ws = append(ws, "Redis has AOF off (appendonly no): "+
			"a Redis crash or restart may lose accepted events; set appendonly yes")
	default:
		ws = append(ws, "Redis did not report aof_enabled: "+
			"check by hand that appendonly is yes, or a Redis crash may lose accepted events")
	}
	if want.Fixed {
		switch n := connectedReplicas(info); {
		case want.N == 0 && n > 0:
			ws = append(ws, fmt.Sprintf("store.redis.min_replicas is 0 and the Redis master has %d replicas connected: "+
				"writes are acknowledged without waiting for them, so a failover may lose acknowledged events", n))
		case n < want.N:
			ws = append(ws, fmt.Sprintf("store.redis.min_replicas is %d but the Redis master has %d replicas connected: "+
				"every write is refused (503) until %d confirm it", want.N, n, want.N))
		}
	}
	return ws, nil
}

// settingWord is what a maxmemory-policy value looks like; anything else
// is not quoted in a warning.
var settingWord = regexp.MustCompile(`^[a-z][a-z-]{0,31}$`)

// refused tells an error reply that refuses the command (unknown, renamed,
// not permitted by ACL) from a server that cannot answer now.
func refused(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && !transientReply(rerr.Error())
}

// infoField reads one "name:value" line of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}
