package testredis

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/redisproc"
)

// Sentinel is a master and one replica on loopback TCP, watched by one
// Redis Sentinel under a master name, as a store configured with
// store.redis.master_name reaches them.
type Sentinel struct {
	tb   testing.TB
	proc *redisproc.Sentinel
	name string

	mu              sync.Mutex
	master, replica *Server
}

// sentinelMasterName is what the sentinel calls the master it watches.
const sentinelMasterName = "hgmain"

// sentinelConf makes failovers take a second or two rather than the
// defaults' half-minute and more. With one sentinel a quorum of 1 lets
// it decide alone. down-after-milliseconds is how long a silent master
// takes to be judged down; failover-timeout bounds each step of a
// failover, and is generous so that a slow test machine does not abort
// one halfway.
func sentinelConf(name string, master *Server) []string {
	return []string{
		"sentinel monitor " + name + " 127.0.0.1 " + strconv.Itoa(master.srv.Port()) + " 1",
		"sentinel down-after-milliseconds " + name + " 1000",
		"sentinel failover-timeout " + name + " 10000",
	}
}

// sentinelTimers shortens the sentinel's own timers (SENTINEL DEBUG, in
// ms): it asks each server for INFO every info-period (10s by default)
// and, after a failover, turns the old master into a replica of the new
// one 4 publish-periods (8s by default) after seeing it still a master.
// Shorter, the old master rejoins as a replica within seconds.
var sentinelTimers = []string{"info-period", "500", "publish-period", "250"}

// StartSentinel runs a master, a replica of it, and a Redis Sentinel
// monitoring the master under MasterName, for tb, and returns once the
// sentinel knows the master and the replica as they are and judges the
// replica fit to take over (see WaitOK). Every process is killed at
// cleanup.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	// Both with fastSync: after a failover the replica is the master that
	// the old master syncs from.
	master := StartTCP(tb, fastSync...)
	replica := StartTCP(tb, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.srv.Port())}, fastSync...)...)
	WaitReplicaLinked(tb, master, replica)

	proc, err := redisproc.StartSentinel(tempDir(tb), sentinelConf(sentinelMasterName, master)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(proc.Kill)
	if _, err := proc.Do(append([]string{"SENTINEL", "DEBUG"}, sentinelTimers...)...); err != nil {
		tb.Fatalf("SENTINEL DEBUG %s: %v", strings.Join(sentinelTimers, " "), err)
	}
	s := &Sentinel{tb: tb, proc: proc, name: sentinelMasterName, master: master, replica: replica}
	s.WaitOK()
	return s
}

// Addr is the sentinel's address, 127.0.0.1:PORT: what a client is given
// (with MasterName) to find the master.
func (s *Sentinel) Addr() string { return s.proc.Addr() }

// MasterName is the name under which the sentinel monitors the master.
func (s *Sentinel) MasterName() string { return s.name }

// Proc is the sentinel process, for asking it what this type does not.
func (s *Sentinel) Proc() *redisproc.Sentinel { return s.proc }

// Master is the server that is the master: the one started as the
// master, or after Failover or KillMaster the former replica.
func (s *Sentinel) Master() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master
}

// Replica is the server that is the master's replica: the one started as
// the replica, or after Failover or KillMaster the former master (after
// KillMaster, down until restarted).
func (s *Sentinel) Replica() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replica
}

// Failover asks the sentinel for an orderly failover (SENTINEL FAILOVER)
// and returns once it is done: the sentinel names the former replica as
// the master, which takes writes, and the former master is its replica,
// linked (WaitOK). Master and Replica swap.
//
// Redis Sentinel does not wait for the replica to catch up before it
// promotes it, so writes the master took but the replica had not yet
// received are lost: only writes a replica acknowledged (WAIT) survive.
// The former master takes writes until the sentinel turns it into a
// replica, which discards them too.
func (s *Sentinel) Failover() {
	s.tb.Helper()
	err := waitFor(30*time.Second, func() error {
		_, err := s.proc.Do("SENTINEL", "FAILOVER", s.name)
		var rerr redisproc.ReplyError
		if errors.As(err, &rerr) && strings.HasPrefix(string(rerr), "INPROG") {
			return nil // an earlier try of ours whose reply was lost
		}
		// NOGOODSLAVE: the sentinel's last word from the replica is
		// too old (a slow machine); it asks again shortly.
		return err
	})
	if err != nil {
		s.tb.Fatalf("SENTINEL FAILOVER %s: %v", s.name, err)
	}
	s.mu.Lock()
	s.master, s.replica = s.replica, s.master
	s.mu.Unlock()
	s.WaitOK()
	if err := writable(s.Master().srv); err != nil {
		s.tb.Fatalf("new master %s after the failover: %v", s.Master().Addr(), err)
	}
}

// KillMaster kills the master with SIGKILL, as a crash would, and returns
// once the sentinel, having judged it down (after a second of silence),
// names the replica as the master, which takes writes, with the failover
// done. Master and Replica swap: Replica is then the killed server, down
// until its Restart, after which the sentinel makes it a replica of the
// new master (WaitOK waits for that). Writes the replica had not received
// are lost.
func (s *Sentinel) KillMaster() {
	s.tb.Helper()
	s.mu.Lock()
	s.master.Kill()
	s.master, s.replica = s.replica, s.master
	s.mu.Unlock()
	if err := waitFor(time.Minute, s.promoted); err != nil {
		s.tb.Fatalf("sentinel %s after killing the master of %s: %v", s.Addr(), s.name, err)
	}
	if err := writable(s.Master().srv); err != nil {
		s.tb.Fatalf("new master %s after the failover: %v", s.Master().Addr(), err)
	}
}

// promoted reports (as an error) why the sentinel has not yet made Master
// the master: it must send clients to it, judge it up with no failover in
// progress, and Master must say it is one.
func (s *Sentinel) promoted() error {
	master := s.Master()
	addr, err := s.proc.MasterAddr(s.name)
	if err != nil {
		return fmt.Errorf("master address: %w", err)
	}
	if addr != master.Addr() {
		return fmt.Errorf("sentinel names %s the master, want %s", addr, master.Addr())
	}
	m, err := s.proc.Master(s.name)
	if err != nil {
		return fmt.Errorf("SENTINEL MASTER: %w", err)
	}
	if m["flags"] != "master" {
		return fmt.Errorf("sentinel flags the master %q, want just master", m["flags"])
	}
	info, err := master.srv.Do("INFO", "replication")
	if err != nil {
		return fmt.Errorf("master INFO: %w", err)
	}
	if role, _ := redisproc.InfoField(info, "role"); role != "master" {
		return fmt.Errorf("master %s reports role:%s", master.Addr(), role)
	}
	return nil
}

// WaitOK waits (at most a minute) until the sentinel and the servers agree
// with Master and Replica: the sentinel sends clients to Master, judges it
// up with no failover in progress, and knows Replica as its replica, up
// and linked, heard from and fit to be promoted; the servers say the same
// of themselves (the master is one and counts one online replica, the
// replica's link is up). It fails the test with the last reason
// otherwise.
func (s *Sentinel) WaitOK() {
	s.tb.Helper()
	if err := waitFor(time.Minute, s.ok); err != nil {
		s.tb.Fatalf("sentinel %s watching %s: %v", s.Addr(), s.name, err)
	}
}

func (s *Sentinel) ok() error {
	if err := s.promoted(); err != nil {
		return err
	}
	master, replica := s.Master(), s.Replica()
	replicas, err := s.proc.Replicas(s.name)
	if err != nil {
		return fmt.Errorf("SENTINEL REPLICAS: %w", err)
	}
	found := false
	for _, r := range replicas {
		if r["name"] != replica.Addr() {
			continue // a replica the sentinel remembers from before a failover
		}
		found = true
		for field, want := range map[string]string{
			"flags":              "slave",
			"role-reported":      "slave",
			"master-link-status": "ok",
			"master-port":        strconv.Itoa(master.srv.Port()),
		} {
			if got := r[field]; got != want {
				return fmt.Errorf("sentinel reports replica %s %s %q, want %q", replica.Addr(), field, got, want)
			}
		}
		// A replica the sentinel has no INFO from yet has no run id, and
		// is not one it would promote.
		if r["runid"] == "" {
			return fmt.Errorf("sentinel has no INFO from replica %s yet", replica.Addr())
		}
	}
	if !found {
		return fmt.Errorf("sentinel does not know replica %s (knows %d others)", replica.Addr(), len(replicas))
	}
	if reply, err := s.proc.Do("SENTINEL", "CKQUORUM", s.name); err != nil {
		return fmt.Errorf("SENTINEL CKQUORUM: %w", err)
	} else if !strings.HasPrefix(reply, "OK") {
		return fmt.Errorf("SENTINEL CKQUORUM: %s", reply)
	}
	return replicaLinked(master.srv, replica.srv)
}

// writable checks that srv takes a write, on a key of its own.
func writable(srv *redisproc.Server) error {
	replies, err := srv.Pipeline([]string{"SET", "testredis:writable", "1"}, []string{"DEL", "testredis:writable"})
	if err != nil {
		return fmt.Errorf("SET: %w", err)
	}
	if replies[0] != "OK" {
		return fmt.Errorf("SET answered %q", replies[0])
	}
	return nil
}
