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

	"github.com/hookgate/hookgate/gateway"
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

// replicaCount caches what the store knows of one master's replicas.
type replicaCount struct {
	master  string    // run_id of the master read last
	n       int       // its connected replicas at the last reading
	checked time.Time // of the last reading
	seen    time.Time // of the last reading that showed this master a replica
}

// replicaSet is a replicaCount per master address (one, unless the store
// is partitioned over a cluster's masters).
type replicaSet struct {
	mu sync.Mutex
	m  map[string]*replicaCount
}

// masters groups the jobs by the client of the master that holds their
// partition: the one server, Sentinel's current master, or on a cluster
// the master of each partition's slot.
func (s *Store) masters(ctx context.Context, jobs []partJob) ([]*redis.Client, [][]int, error) {
	switch c := s.rdb.(type) {
	case *redis.Client:
		idx := make([]int, len(jobs))
		for i := range idx {
			idx[i] = i
		}
		return []*redis.Client{c}, [][]int{idx}, nil
	case *redis.ClusterClient:
		var nodes []*redis.Client
		var groups [][]int
		at := map[*redis.Client]int{}
		for i, j := range jobs {
			node, err := c.MasterForKey(ctx, s.bases[j.p])
			if err != nil {
				return nil, nil, err
			}
			g, ok := at[node]
			if !ok {
				g = len(nodes)
				at[node] = g
				nodes = append(nodes, node)
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], i)
		}
		return nodes, groups, nil
	default:
		return nil, nil, fmt.Errorf("redis client %T: unknown kind", s.rdb)
	}
}

// needReplica reports whether a write to node must wait for a replica:
// the master has one connected (read at most replicaCheckEvery ago), or
// had one within replicaMemory. A failed read keeps the last value.
func (s *Store) needReplica(ctx context.Context, node *redis.Client) bool {
	rs := &s.replicas
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m == nil {
		rs.m = map[string]*replicaCount{}
	}
	addr := node.Options().Addr
	r := rs.m[addr]
	if r == nil {
		r = &replicaCount{}
		rs.m[addr] = r
	}
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

// recheckReplicas makes the next Put read the replica counts afresh.
func (s *Store) recheckReplicas() {
	s.replicas.mu.Lock()
	defer s.replicas.mu.Unlock()
	for _, r := range s.replicas.m {
		r.checked = time.Time{}
	}
}

// replicasLost reports whether a master had replicas once but none has
// been connected for replicaMemory: acknowledgements then wait for none.
func (s *Store) replicasLost() bool {
	s.replicas.mu.Lock()
	defer s.replicas.mu.Unlock()
	for _, r := range s.replicas.m {
		if r.n == 0 && !r.seen.IsZero() && time.Since(r.seen) >= replicaMemory {
			return true
		}
	}
	return false
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

// runDurable runs script once per job, in its partition, as runParts does,
// and, for each master that has replicas, waits for one of them to have
// the writes (see the top of this file). The jobs of one master go in one
// pipeline, masters in parallel. An error is the first of any job's, or
// errNoReplica.
func (s *Store) runDurable(ctx context.Context, script *redis.Script, jobs []partJob) ([]*redis.Cmd, error) {
	nodes, groups, err := s.masters(ctx, jobs)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.Cmd, len(jobs))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for g, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer gateway.Contain("redisstore.put", func(err error) { errs[g] = err })
			errs[g] = s.runOnNode(ctx, node, script, jobs, groups[g], cmds)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

// runOnNode runs the jobs idx on node in one pipeline, with WAIT 1 after
// them when node has replicas, and fills cmds.
func (s *Store) runOnNode(ctx context.Context, node *redis.Client, script *redis.Script, jobs []partJob, idx []int, cmds []*redis.Cmd) error {
	need := s.needReplica(ctx, node)
	wait := s.evalAndWait(ctx, node, script, jobs, idx, cmds, need)
	if noScript(cmds, idx) {
		// That server has not seen the script (a restart, a failover).
		if err := script.Load(ctx, node).Err(); err != nil {
			return err
		}
		wait = s.evalAndWait(ctx, node, script, jobs, idx, cmds, need)
	}
	for _, i := range idx {
		if err := cmds[i].Err(); err != nil {
			s.recheckReplicas()
			if c, ok := s.rdb.(*redis.ClusterClient); ok {
				// A dead master (connection refused) or MOVED after a
				// failover: learn the new master now rather than at the
				// client's next periodic reload, a minute away.
				c.ReloadState(ctx)
			}
			return err
		}
	}
	if !need {
		return nil
	}
	if n, err := wait.Int64(); err != nil || n < 1 {
		s.recheckReplicas() // the master may have changed under us
		return fmt.Errorf("%w within %v", errNoReplica, s.replicaWait)
	}
	return nil
}

func noScript(cmds []*redis.Cmd, idx []int) bool {
	for _, i := range idx {
		if err := cmds[i].Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// evalAndWait sends the jobs' scripts and, if withWait, WAIT 1 in one
// pipeline, so that all go over one connection: WAIT counts the writes
// made on its connection.
func (s *Store) evalAndWait(ctx context.Context, node *redis.Client, script *redis.Script,
	jobs []partJob, idx []int, cmds []*redis.Cmd, withWait bool) (wait *redis.Cmd) {
	// Errors are each command's own; Pipelined's is the first of them.
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range idx {
			cmds[i] = script.EvalSha(ctx, p, []string{s.bases[jobs[i].p]}, jobs[i].args...)
		}
		if withWait {
			wait = p.Do(ctx, "WAIT", 1, s.replicaWait.Milliseconds())
		}
		return nil
	})
	return wait
}
