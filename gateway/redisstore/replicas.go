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

// replicaCount caches how many replicas the master holding the keys has.
type replicaCount struct {
	mu      sync.Mutex
	n       int
	checked time.Time
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

// replicaCount returns the master's connected replicas, as last read (at
// most replicaCheckEvery ago). A failed read keeps the last value.
func (s *Store) replicaCount(ctx context.Context, node *redis.Client) int {
	r := &s.replicas
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= replicaCheckEvery {
		if info, err := node.Info(ctx, "replication").Result(); err == nil {
			r.n, r.checked = connectedReplicas(info), now
		}
	}
	return r.n
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
	if s.replicaCount(ctx, node) == 0 {
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
		if c, ok := s.rdb.(*redis.ClusterClient); ok && transientReply(err.Error()) {
			c.ReloadState(ctx) // MOVED after a failover: learn the new master
		}
		return eval, nil
	}
	if n, err := wait.Int64(); err != nil || n < 1 {
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
