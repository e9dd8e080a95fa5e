package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replica acknowledgement. Redis replicates asynchronously: a master that
// dies right after answering a write can take the write with it, and a
// replica promoted in its place never had it. So when the master holding
// the store's keys has replicas, Put sends WAIT 1 on the connection that
// ran its script and answers only once a replica has the batch; if none
// confirms within the wait, Put fails with ErrUnavailable (the upstream
// gets 503 and retries; the retry is deduplicated if the write did
// survive). Without replicas there is nothing to wait for: durability is
// the master's AOF (appendfsync).

// DefaultReplicaWait bounds Put's wait for a replica's confirmation.
const DefaultReplicaWait = 2 * time.Second

// replicaCheckEvery is how long a reading of the master's replica count
// stands: replicas come and go rarely, and INFO costs a round trip.
const replicaCheckEvery = 5 * time.Second

// replicaMemory is how long Put goes on waiting for a replica of a master
// after the last reading that showed it one. A replica whose link dropped
// a moment ago (a network blip, a restart) is still the one a failover
// would promote, so the writes it has not confirmed must not be
// acknowledged; one gone for this long is taken to be gone, and Health
// says so. A new master (a failover happened) starts afresh: after the
// failover it may have no replica left, and then there is none to wait
// for.
const replicaMemory = 5 * time.Minute

// replicaCount caches what the store knows of the replicas of the master
// holding the keys.
type replicaCount struct {
	mu      sync.Mutex
	master  string    // run_id of the master read last
	n       int       // its connected replicas at the last reading
	checked time.Time // of the last reading
	seen    time.Time // of the last reading that showed this master a replica
}

// master returns a client for the server that holds the store's keys: the
// one server, Sentinel's current master, or the cluster master of the
// prefix's slot.
func (s *Store) master(ctx context.Context) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, s.base)
	case *redis.Client:
		return c, nil
	default:
		return nil, fmt.Errorf("redis client %T: unknown kind", s.rdb)
	}
}

// needReplica reports whether Put must wait for a replica: the master has
// one connected (read at most replicaCheckEvery ago), or had one within
// replicaMemory. A failed read keeps the last value.
func (s *Store) needReplica(ctx context.Context, node *redis.Client) bool {
	r := &s.replicas
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.checked) >= replicaCheckEvery {
		if info, err := node.Info(ctx, "server", "replication").Result(); err == nil {
			if id := infoField(info, "run_id"); id != r.master {
				r.master, r.seen = id, time.Time{}
			}
			r.n, r.checked = connectedReplicas(info), now
			if r.n > 0 {
				r.seen = now
			}
		}
	}
	return r.n > 0 || (!r.seen.IsZero() && now.Sub(r.seen) < replicaMemory)
}

// recheckReplicas makes the next Put read the replica count afresh.
func (s *Store) recheckReplicas() {
	s.replicas.mu.Lock()
	s.replicas.checked = time.Time{}
	s.replicas.mu.Unlock()
}

// replicasLost reports whether replicas were seen once but none has been
// connected for replicaMemory: acknowledgements then wait for none.
func (s *Store) replicasLost() bool {
	r := &s.replicas
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n == 0 && !r.seen.IsZero() && time.Since(r.seen) >= replicaMemory
}

// connectedReplicas reads connected_slaves from INFO replication.
func connectedReplicas(info string) int {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// errNoReplica: the write was made on the master but no replica confirmed
// it in time; the caller must not acknowledge it (Put wraps it in
// gateway.ErrUnavailable).
var errNoReplica = errors.New("no replica confirmed the write")

// runDurable runs script as Run does and, when the master has replicas,
// waits for one of them to have the write (see the top of this file).
func (s *Store) runDurable(ctx context.Context, script *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	node, err := s.master(ctx)
	if err != nil {
		return nil, err
	}
	if !s.needReplica(ctx, node) {
		return script.Run(ctx, s.rdb, keys, args...), nil
	}
	eval, wait := s.evalAndWait(ctx, node, script, keys, args)
	if err := eval.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		// That server has not seen the script (a restart, a failover).
		if err := script.Load(ctx, node).Err(); err != nil {
			return nil, err
		}
		eval, wait = s.evalAndWait(ctx, node, script, keys, args)
	}
	if err := eval.Err(); err != nil {
		s.recheckReplicas()
		if c, ok := s.rdb.(*redis.ClusterClient); ok {
			// A dead master (connection refused) or MOVED after a
			// failover: learn the new master now rather than at the
			// client's next periodic reload, a minute away.
			c.ReloadState(ctx)
		}
		return eval, nil
	}
	if n, err := wait.Int64(); err != nil || n < 1 {
		s.recheckReplicas() // the master may have changed under us
		return nil, fmt.Errorf("%w within %v", errNoReplica, s.replicaWait)
	}
	return eval, nil
}

// evalAndWait sends the script and WAIT 1 in one pipeline, so that both
// go over one connection: WAIT counts the writes made on its connection.
func (s *Store) evalAndWait(ctx context.Context, node *redis.Client, script *redis.Script, keys []string, args []any) (eval, wait *redis.Cmd) {
	// Errors are each command's own; Pipelined's is the first of them.
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		eval = script.EvalSha(ctx, p, keys, args...)
		wait = p.Do(ctx, "WAIT", 1, s.replicaWait.Milliseconds())
		return nil
	})
	return eval, wait
}
