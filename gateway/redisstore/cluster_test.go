package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// clusterConfig points a store at the cluster: the first seed in the URL,
// the others in Addrs, as an operator writes store.redis for a cluster.
func clusterConfig(c *testredis.Cluster, prefix string) *gateway.RedisConfig {
	addrs := c.Addrs()
	return &gateway.RedisConfig{URL: gateway.Secret("redis://" + addrs[0]), Addrs: addrs[1:], Prefix: prefix}
}

// TestClusterConformance runs the shared Store suite on a real Redis
// Cluster of three masters and three replicas, each subtest isolated by
// its own key prefix; the store's keys spread over the masters as its
// partitioning puts them.
func TestClusterConformance(t *testing.T) {
	c := testredis.StartCluster(t)
	runConformance(t, func(prefix string) *gateway.RedisConfig { return clusterConfig(c, prefix) })
}

// TestClusterFailover: events are Put while the master holding the most
// of the store's keys is SIGKILLed and its replica takes over. A Put that
// returned nil was acknowledged (ingest answered 200), so every such event
// must be found afterwards by a store opened fresh on the cluster; a Put
// that failed was not acknowledged and may or may not have been kept.
// Puts must be acknowledged again once the cluster is whole.
func TestClusterFailover(t *testing.T) {
	c := testredis.StartCluster(t)
	cfg := gateway.StoreConfig{Redis: clusterConfig(c, "fo")}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	l := startPuts(s)
	l.waitAcked(t, 200, "before the kill")
	victim := busiestMaster(t, c)
	c.KillMaster(victim)
	ackedBefore, t0 := l.nAcked.Load(), time.Now()
	c.WaitOK()
	okAfter := time.Since(t0)
	l.waitAcked(t, l.nAcked.Load()+1, "after the failover")
	backAfter := time.Since(t0)
	l.waitAcked(t, l.nAcked.Load()+200, "after the failover")
	acked := l.halt()
	t.Logf("killed master %s after %d acknowledged Puts; cluster ok again after %v, Puts acknowledged again after %v; %d acknowledged in all, %d failed",
		victim, ackedBefore, okAfter.Round(time.Millisecond), backAfter.Round(time.Millisecond), len(acked), l.failures.Load())
	checkAcked(t, cfg, acked)
}

// TestClusterFailoverLaggingReplica is the case replica acknowledgement
// exists for: the replica of the busiest master is frozen (SIGSTOP) and
// its link cut, so writes reach the master but not the replica; then the
// master is SIGKILLed and the replica, running again, takes over without
// those writes. Puts made meanwhile must not have been acknowledged, since
// they are gone; every acknowledged one must be found.
func TestClusterFailoverLaggingReplica(t *testing.T) {
	c := testredis.StartCluster(t)
	cfg := gateway.StoreConfig{Redis: clusterConfig(c, "lag")}
	// A short wait for the frozen replica keeps the window quick.
	s, err := OpenWith(cfg, ReplicaWait(500*time.Millisecond))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	l := startPuts(s)
	l.waitAcked(t, 200, "before the replica froze")
	victim := busiestMaster(t, c)
	replica := c.Node(c.ReplicaOf(victim))
	// Frozen, the replica would still find in its socket buffer what the
	// master sent meanwhile; cut off, it gets nothing more.
	replica.Pause()
	if _, err := c.Node(victim).Proc().Do("CLIENT", "KILL", "TYPE", "replica"); err != nil {
		t.Fatalf("cutting the replica off the master: %v", err)
	}
	ackedBefore := l.nAcked.Load()
	// Every putter tries at least twice while the replica cannot confirm.
	l.waitAttempts(t, l.attempts()+2*failoverPutters, "with the replica cut off")
	ackedFrozen := l.nAcked.Load() - ackedBefore
	c.KillMaster(victim)
	replica.Continue()
	c.WaitOK()
	if masters := c.Masters(); !slices.Contains(masters, replica.Addr()) {
		t.Fatalf("masters after the failover %v: want the frozen replica %s promoted", masters, replica.Addr())
	}
	l.waitAcked(t, l.nAcked.Load()+200, "after the failover")
	acked := l.halt()
	t.Logf("cut off replica %s of master %s after %d acknowledged Puts, %d acknowledged while it was cut off; %d acknowledged in all, %d failed",
		replica.Addr(), victim, ackedBefore, ackedFrozen, len(acked), l.failures.Load())
	checkAcked(t, cfg, acked)
}

// failoverPutters is how many Puts are in flight at once in the failover
// tests: each putter makes one at a time, as an ingest handler does, so
// that writes are in flight on the master at the moment it dies.
const failoverPutters = 8

// putLoad is failoverPutters goroutines each Putting new events, one at a
// time, until halt, noting which Puts were acknowledged (returned nil).
type putLoad struct {
	mu       sync.Mutex
	acked    []string     // ids whose Put returned nil
	nAcked   atomic.Int64 // len(acked), read without mu
	failures atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
	halted   sync.Once
}

func startPuts(s gateway.Store) *putLoad {
	l := &putLoad{stop: make(chan struct{})}
	for p := range failoverPutters {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("evt_%d_%d", p, i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := s.Put(ctx, []gateway.NewEvent{failoverEvent(id)})
				cancel()
				if err != nil {
					l.failures.Add(1)
					time.Sleep(20 * time.Millisecond) // the cluster is failing over
					continue
				}
				l.mu.Lock()
				l.acked = append(l.acked, id)
				l.mu.Unlock()
				l.nAcked.Add(1)
			}
		}()
	}
	return l
}

// attempts counts the Puts that returned, acknowledged or not.
func (l *putLoad) attempts() int64 { return l.nAcked.Load() + l.failures.Load() }

// halt stops the putters, waits for them, and returns the acknowledged ids.
func (l *putLoad) halt() []string {
	l.halted.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// waitAcked waits until n Puts in all were acknowledged; it fails the test
// if putPatience passes first (the store never came back).
func (l *putLoad) waitAcked(t *testing.T, n int64, what string) {
	t.Helper()
	l.waitFor(t, func() bool { return l.nAcked.Load() >= n }, fmt.Sprintf("%s: want %d acknowledged", what, n))
}

// waitAttempts waits until n Puts in all returned.
func (l *putLoad) waitAttempts(t *testing.T, n int64, what string) {
	t.Helper()
	l.waitFor(t, func() bool { return l.attempts() >= n }, fmt.Sprintf("%s: want %d returned", what, n))
}

// putPatience bounds each wait of the failover tests. It is generous, not
// a target: go-redis rereads a cluster's slot map at least once a minute,
// so a store that learns of a failover only that way is back within it.
const putPatience = 90 * time.Second

func (l *putLoad) waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(putPatience)
	for !cond() {
		if time.Now().After(deadline) {
			l.halt()
			t.Fatalf("%s; after %v, %d Puts acknowledged, %d failed", what, putPatience, l.nAcked.Load(), l.failures.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkAcked opens a fresh store on cfg and fails the test for every
// acknowledged id it does not find.
func checkAcked(t *testing.T, cfg gateway.StoreConfig, acked []string) {
	t.Helper()
	fresh, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after the failover: %v", err)
	}
	defer fresh.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lost []string
	for _, id := range acked {
		rec, err := fresh.Event(ctx, id)
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			lost = append(lost, id)
		case err != nil:
			t.Fatalf("Event(%s) after the failover: %v", id, err)
		case rec.ID != id || len(rec.Deliveries) != 1:
			t.Errorf("Event(%s) = id %s with %d deliveries, want the event with its 1 delivery", id, rec.ID, len(rec.Deliveries))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged events lost in the failover, among them %v", len(lost), len(acked), lost[:min(len(lost), 20)])
	}
}

func failoverEvent(id string) gateway.NewEvent {
	return gateway.NewEvent{
		Envelope:    gateway.Envelope{ID: id, Source: "src1", Type: "src1.product.updated", Subject: "product/" + id},
		Body:        []byte(`{"id":"` + id + `"}`),
		ReceivedAt:  time.Now().UTC().Truncate(time.Millisecond),
		Subscribers: []string{"sub-a"},
	}
}

// busiestMaster is the master holding the most keys: the one whose loss
// puts the most acknowledged writes at risk, however the store spreads
// its keys.
func busiestMaster(t *testing.T, c *testredis.Cluster) string {
	t.Helper()
	best, most := "", -1
	for _, m := range c.Masters() {
		reply, err := c.Node(m).Proc().Do("DBSIZE")
		if err != nil {
			t.Fatalf("DBSIZE on %s: %v", m, err)
		}
		n, err := strconv.Atoi(reply)
		if err != nil {
			t.Fatalf("DBSIZE on %s = %q: %v", m, reply, err)
		}
		if n > most {
			best, most = m, n
		}
	}
	if most <= 0 {
		t.Fatalf("no master holds a key after the first Puts")
	}
	return best
}

// TestClusterFailoverDeliveryPaths: a gateway that only delivers (it
// makes no Put, which reloads the slot map on its own failures) must find
// the new master soon after a failover on every path: claims, pause flag
// reads and admin reads. Its client would otherwise go on dialing the dead
// master until its periodic reload, a minute away, holding every
// acknowledged event back.
func TestClusterFailoverDeliveryPaths(t *testing.T) {
	c := testredis.StartCluster(t)
	cfg := gateway.StoreConfig{Redis: clusterConfig(c, "fodp")}
	ingest, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ingest.Close()
	deliver, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer deliver.Close()
	ctx := context.Background()
	now := time.Now()
	var evs []gateway.NewEvent
	for i := range 200 {
		e := testEvent(fmt.Sprintf("evt_%d", i))
		e.Envelope.Subject = fmt.Sprintf("product/%d", i) // spread over the partitions
		e.ReceivedAt = now
		evs = append(evs, e)
	}
	if _, err := ingest.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	paths := map[string]func() error{
		"claim": func() error {
			_, err := deliver.Claim(ctx, "sub-a", time.Now(), 1, time.Minute)
			return err
		},
		"paused": func() error { _, err := deliver.Paused(ctx, "sub-a"); return err },
		"stats":  func() error { _, err := deliver.Stats(ctx, "sub-a"); return err },
	}
	for name, call := range paths {
		if err := call(); err != nil {
			t.Fatalf("%s before the failover: %v", name, err)
		}
	}
	victim := busiestMaster(t, c)
	c.KillMaster(victim)
	// The paths fail while the master is gone, as a dispatcher's would.
	for name, call := range paths {
		if err := call(); err == nil {
			t.Logf("%s answered with the master just killed (served by the others)", name)
		}
	}
	c.WaitOK()
	ok := time.Now()
	for name, call := range paths {
		var err error
		for err = call(); err != nil; err = call() {
			// A generous bound: the client's own reload takes a minute.
			if time.Since(ok) > 20*time.Second {
				t.Fatalf("%s still failing %v after the cluster is ok: %v", name, time.Since(ok).Round(time.Millisecond), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("%s answers %v after the cluster is ok", name, time.Since(ok).Round(time.Millisecond))
	}
}
