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
// replica promoted in its place never had it. So Put sends WAIT on the
// connection that ran its script and answers only once enough replicas
// have the batch; if they do not confirm within the wait, Put fails with
// ErrUnavailable (the upstream gets 503 and retries; the retry is
// deduplicated if the write did survive).
//
// How many is store.redis.min_replicas. Auto (the default) waits for one
// when the master holding the keys has replicas, as its INFO replication
// says; without replicas there is nothing to wait for, and durability is
// the master's AOF (appendfsync). A master that refuses INFO (an ACL
// without it, a renamed command) cannot say, and then Put refuses every
// write, naming the fix, rather than acknowledge one that a failover could
// lose. A fixed count N never asks INFO: every batch waits for N replicas
// (0: none).
//
// The replica count is read per master, each under its own lock that is
// never held across a round trip: a Put to a master whose reading is fresh
// waits on nothing, and the Puts that find a master's reading due share
// one INFO (the first sends it, the others wait for its answer), so a
// master slow to answer holds back only the Puts to it.

// DefaultReplicaWait bounds Put's wait for a replica's confirmation.
const DefaultReplicaWait = 2 * time.Second

// replicaCheckEvery is how long a reading of the master's replica count
// stands, a refusal included: replicas come and go rarely, and INFO costs
// a round trip.
const replicaCheckEvery = 5 * time.Second

// replicaMemory is how long Put goes on waiting for a replica of a master
// after the last reading that showed it one. A replica whose link dropped
// a moment ago (a network blip, a restart) is still the one a failover
// would promote, so the writes it has not confirmed must not be
// acknowledged; one gone for this long is taken to be gone, and Health
// says so.
//
// The memory outlives a failover. A master that answers with a new run_id
// (the old one restarted, or a replica promoted in its place) goes on
// waiting for a replica, although it may have none yet: until one has
// synced from it, what it takes alone exists nowhere else, and Sentinel
// may yet hand the master's role to a node without it. make chaos caught
// exactly that: the replica promoted, then judged down within a second on
// a busy machine, and the sentinel promoted the old master, restarted and
// not yet made a replica, with none of what the new one had acknowledged
// (1,104 of 1,520 events lost). Writes get 503 (the upstream retries) until
// a replica syncs, or until this memory ends when none does.
const replicaMemory = 5 * time.Minute

// DefaultDeliveryReplicaMemory is replicaMemory for claims and attempt
// records. Their confirmation only spares a duplicate delivery (a lease
// or record a failover loses has its delivery sent again), so they wait
// for a replica gone a moment ago, as in an orderly failover, where the
// old master takes writes until it is made a replica and they are wiped;
// but deliveries must not stop for minutes because one is gone for good.
const DefaultDeliveryReplicaMemory = 30 * time.Second

// replicaReading is what the store knows of one master's replicas.
type replicaReading struct {
	n       int       // its connected replicas at the last reading
	checked time.Time // of the last reading (a refusal counts as one)
	seen    time.Time // of the last reading that showed this master a replica
	// refused is the master's error reply to the last INFO (NOPERM, an
	// unknown command): the count cannot be known.
	refused string
}

// replicaState is one master's reading and the refresh of it under way.
type replicaState struct {
	mu sync.Mutex
	r  replicaReading
	// refreshing is closed when the INFO in flight has been answered; nil
	// when none is.
	refreshing chan struct{}
	// lastErr is the error of the last INFO that got no answer (a lost
	// connection): the reading is kept, and it is asked again next time.
	lastErr error
}

// replicaSet is what the store knows of the masters' replicas: the
// configured min_replicas, and under auto a replicaState per master
// address (one, unless the store is partitioned over a cluster's masters).
type replicaSet struct {
	want gateway.MinReplicas

	mu sync.Mutex // guards m only; never held across a round trip
	m  map[string]*replicaState
}

// state returns the state of the master at addr, made on first use.
func (rs *replicaSet) state(addr string) *replicaState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m == nil {
		rs.m = map[string]*replicaState{}
	}
	st := rs.m[addr]
	if st == nil {
		st = &replicaState{}
		rs.m[addr] = st
	}
	return st
}

// each calls f with every master's reading, each under its own lock.
func (rs *replicaSet) each(f func(r replicaReading)) {
	rs.mu.Lock()
	states := make([]*replicaState, 0, len(rs.m))
	for _, st := range rs.m {
		states = append(states, st)
	}
	rs.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		r := st.r
		st.mu.Unlock()
		f(r)
	}
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

// needReplica returns how many replicas must confirm a write to node: the
// configured min_replicas when it is a count; under auto, 1 when the
// master has a replica connected (read at most replicaCheckEvery ago) or
// had one within replicaMemory, else 0. Under auto it fails when the
// master refuses INFO, or when it has never answered one.
func (s *Store) needReplica(ctx context.Context, node *redis.Client, memory time.Duration) (int, error) {
	if s.replicas.want.Fixed {
		return s.replicas.want.N, nil
	}
	st := s.replicas.state(node.Options().Addr)
	st.mu.Lock()
	if time.Since(st.r.checked) < replicaCheckEvery {
		r := st.r
		st.mu.Unlock()
		return r.need(time.Now(), memory)
	}
	wait := st.refreshing
	if wait == nil {
		// This Put reads the count; those that come meanwhile wait for
		// its answer rather than each send an INFO.
		wait = make(chan struct{})
		st.refreshing = wait
		st.mu.Unlock()
		st.refresh(ctx, node, wait)
	} else {
		st.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	st.mu.Lock()
	r, lastErr := st.r, st.lastErr
	st.mu.Unlock()
	if r.checked.IsZero() && lastErr != nil {
		return 0, fmt.Errorf("read the replica count of the Redis master: %w", lastErr)
	}
	return r.need(time.Now(), memory)
}

// refresh reads node's replica count into st, and then closes wait, the
// refreshing channel it set.
func (st *replicaState) refresh(ctx context.Context, node *redis.Client, wait chan struct{}) {
	var info string
	err := errors.New("reading the replica count panicked") // until the call returns
	defer func() {
		// Also on a panic (contained further up), as a failed read: the
		// last reading stands and waiters go on.
		st.mu.Lock()
		defer st.mu.Unlock()
		st.apply(info, err, time.Now())
		st.refreshing = nil
		close(wait)
	}()
	info, err = node.Info(ctx, "replication").Result()
}

// apply records the answer to an INFO replication. An error reply
// that refuses the command is a reading (of an unknown count); a lost
// connection or a server busy keeps the last reading, to be asked again
// by the next Put.
func (st *replicaState) apply(info string, err error, now time.Time) {
	switch {
	case err == nil:
		// Another process may answer now (a restart, a failover): the
		// replica seen before is still waited for (replicaMemory says why).
		st.r.n, st.r.checked, st.r.refused = connectedReplicas(info), now, ""
		if st.r.n > 0 {
			st.r.seen = now
		}
		st.lastErr = nil
	case refused(err):
		st.r.refused, st.r.checked = err.Error(), now
		st.lastErr = nil
	default:
		st.lastErr = err
	}
}

// need is the replicas a write must wait for under auto, by this reading,
// waiting for a replica seen within memory.
func (r replicaReading) need(now time.Time, memory time.Duration) (int, error) {
	if r.refused != "" {
		return 0, fmt.Errorf("%w: the Redis master refused INFO (%s), so hookgate cannot tell whether it has replicas "+
			"that must confirm each write: set store.redis.min_replicas (the replicas to wait for, 0 for none), "+
			"or grant INFO to hookgate's Redis user", errReplicasUnknown, r.refused)
	}
	if r.n > 0 || (!r.seen.IsZero() && now.Sub(r.seen) < memory) {
		return 1, nil
	}
	return 0, nil
}

// recheckReplicas makes the next Put to the master at addr read its
// replica count afresh.
func (s *Store) recheckReplicas(addr string) {
	st := s.replicas.state(addr)
	st.mu.Lock()
	st.r.checked = time.Time{}
	st.mu.Unlock()
}

// replicasLost reports whether a master had replicas once but none has
// been connected for replicaMemory: acknowledgements then wait for none.
func (s *Store) replicasLost() bool {
	lost := false
	s.replicas.each(func(r replicaReading) {
		if r.refused == "" && r.n == 0 && !r.seen.IsZero() && time.Since(r.seen) >= replicaMemory {
			lost = true
		}
	})
	return lost
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

// errNoReplica: the write was made on the master but not enough replicas
// confirmed it in time; the caller must not acknowledge it (Put wraps it
// in gateway.ErrUnavailable).
var errNoReplica = errors.New("too few replicas confirmed the write")

// errReplicasUnknown: min_replicas is auto and the master will not say
// whether it has replicas; nothing was written. Put wraps it in
// gateway.ErrUnavailable.
var errReplicasUnknown = errors.New("replica count unknown")

// runDurable runs script once per job, in its partition, as runParts does,
// and, for each master that has replicas, waits for one of them to have
// the writes (see the top of this file). The jobs of one master go in one
// pipeline, masters in parallel. An error is the first of any job's, or
// errNoReplica.
func (s *Store) runDurable(ctx context.Context, script *redis.Script, jobs []partJob) ([]*redis.Cmd, error) {
	cmds, err := s.runDurableEach(ctx, script, jobs, "redisstore.put", true)
	if err != nil {
		return nil, err
	}
	return cmds, firstErr(cmds)
}

// runDurableEach is runDurable answering each job on its own, for calls
// that take what some partitions did when others failed (claims,
// records): a job whose master failed, or whose replicas did not confirm
// in time, has its command failed with that error. err is for the jobs'
// masters not found. strict is Put's: a master that will not say whether
// it has replicas (INFO refused) fails the jobs, and a replica seen is
// waited for replicaMemory. Otherwise (claims, records: one lost in a
// failover costs a duplicate delivery, never an event) such a master runs
// them unconfirmed, and a replica is waited for deliveryMemory.
func (s *Store) runDurableEach(ctx context.Context, script *redis.Script, jobs []partJob, component string, strict bool) ([]*redis.Cmd, error) {
	nodes, groups, err := s.masters(ctx, jobs)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.Cmd, len(jobs))
	errs := make([]error, len(nodes))
	run := func(g int, node *redis.Client) {
		defer gateway.Contain(component, func(err error) { errs[g] = err })
		errs[g] = s.runOnNode(ctx, node, script, jobs, groups[g], cmds, strict)
	}
	if len(nodes) == 1 {
		// One master (always, outside a Cluster): no goroutine, whose
		// stack would grow anew to go-redis's depth on every call.
		run(0, nodes[0])
	} else {
		var wg sync.WaitGroup
		for g, node := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(g, node)
			}()
		}
		wg.Wait()
	}
	for g, err := range errs {
		if err == nil {
			continue
		}
		for _, i := range groups[g] {
			if cmds[i] == nil || cmds[i].Err() == nil {
				cmds[i] = redis.NewCmd(ctx)
				cmds[i].SetErr(err)
			}
		}
	}
	return cmds, nil
}

// runOnNode runs the jobs idx on node in one pipeline, with WAIT after
// them when node's writes need replicas (needReplica), and fills cmds.
func (s *Store) runOnNode(ctx context.Context, node *redis.Client, script *redis.Script, jobs []partJob, idx []int, cmds []*redis.Cmd, strict bool) error {
	memory := replicaMemory
	if !strict {
		memory = s.deliveryMemory
	}
	acks, err := s.needReplica(ctx, node, memory)
	switch {
	case err == nil:
	case errors.Is(err, errReplicasUnknown) && !strict:
		acks = 0
	case errors.Is(err, errReplicasUnknown):
		return err
	default:
		s.nodeFailed(ctx, node)
		return err
	}
	wait := s.evalAndWait(ctx, node, script, jobs, idx, cmds, acks)
	if noScript(cmds, idx) {
		// That server has not seen the script (a restart, a failover).
		if err := script.Load(ctx, node).Err(); err != nil {
			return err
		}
		wait = s.evalAndWait(ctx, node, script, jobs, idx, cmds, acks)
	}
	for _, i := range idx {
		if err := cmds[i].Err(); err != nil {
			s.nodeFailed(ctx, node)
			return err
		}
	}
	if acks == 0 {
		return nil
	}
	n, err := wait.Int64()
	if err != nil {
		s.recheckReplicas(node.Options().Addr) // the master may have changed under us
		return fmt.Errorf("%w: wait for them: %v", errNoReplica, err)
	}
	if n < int64(acks) {
		s.recheckReplicas(node.Options().Addr)
		return fmt.Errorf("%w: %d of %d confirmed it within %v", errNoReplica, n, acks, s.replicaWait)
	}
	return nil
}

// nodeFailed follows a failed call to node: its replica count is read
// afresh next time, and on a cluster the slot map too. A dead master
// (connection refused) or MOVED after a failover: learn the new master now
// rather than at the client's next periodic reload, a minute away.
func (s *Store) nodeFailed(ctx context.Context, node *redis.Client) {
	s.recheckReplicas(node.Options().Addr)
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		c.ReloadState(ctx)
	}
}

func noScript(cmds []*redis.Cmd, idx []int) bool {
	for _, i := range idx {
		if err := cmds[i].Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// evalAndWait sends the jobs' scripts and, if acks > 0, WAIT acks in one
// pipeline, so that all go over one connection: WAIT counts the writes
// made on its connection.
//
// So before WAIT it writes one small key of its own (syncKey). A batch
// whose events were all written before (a duplicate: the upstream's retry
// of a Put that failed unconfirmed, perhaps at another gateway; or a
// re-run whose first run's reply was lost) writes nothing, and WAIT would
// then confirm only this connection's older writes, not the event's: 200
// for an event no replica may have. Written after the scripts, the key's
// write follows the event's in the replication stream, so a replica that
// has it has the event.
func (s *Store) evalAndWait(ctx context.Context, node *redis.Client, script *redis.Script,
	jobs []partJob, idx []int, cmds []*redis.Cmd, acks int) (wait *redis.Cmd) {
	var sync *redis.StatusCmd
	// Errors are each command's own; Pipelined's is the first of them.
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range idx {
			cmds[i] = script.EvalSha(ctx, p, []string{s.bases[jobs[i].p]}, jobs[i].args...)
		}
		if acks > 0 {
			sync = p.Set(ctx, s.bases[jobs[idx[0]].p]+syncKey, 1, 0)
			wait = p.Do(ctx, "WAIT", acks, s.replicaWait.Milliseconds())
		}
		return nil
	})
	if sync != nil && sync.Err() != nil {
		// Refused (OOM, READONLY): WAIT says nothing of the events.
		wait = redis.NewCmd(ctx)
		wait.SetErr(sync.Err())
	}
	return wait
}

// syncKey, after a partition's base, is the key evalAndWait writes before
// WAIT.
const syncKey = ":sy"
