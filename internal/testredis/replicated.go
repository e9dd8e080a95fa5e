package testredis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/redisproc"
)

// StartReplicated runs a master and one replica of it on loopback TCP for
// tb, and returns once the master counts the replica as connected and the
// replica's link to it is up, so that a write on the master can be
// acknowledged by the replica (WAIT). Both are killed at cleanup.
func StartReplicated(tb testing.TB) (master, replica *Server) {
	tb.Helper()
	master = StartTCP(tb, fastSync...)
	replica = StartTCP(tb, "--replicaof", "127.0.0.1", strconv.Itoa(master.srv.Port()))
	WaitReplicaLinked(tb, master, replica)
	return master, replica
}

// fastSync makes a master send a new replica its data at once rather
// than after the default 5s pause (kept so that replicas arriving together
// share one transfer).
var fastSync = []string{"--repl-diskless-sync-delay", "0"}

// replicaLinked reports (as an error) why master and replica are not yet
// linked: the master must report one connected, online replica and the
// replica master_link_status:up.
func replicaLinked(master, replica *redisproc.Server) error {
	info, err := master.Do("INFO", "replication")
	if err != nil {
		return fmt.Errorf("master INFO: %w", err)
	}
	if n, _ := redisproc.InfoField(info, "connected_slaves"); n != "1" {
		return fmt.Errorf("master reports connected_slaves:%s, want 1", n)
	}
	if s, _ := redisproc.InfoField(info, "slave0"); !containsField(s, "state=online") {
		return fmt.Errorf("master reports slave0:%s, want state=online", s)
	}
	info, err = replica.Do("INFO", "replication")
	if err != nil {
		return fmt.Errorf("replica INFO: %w", err)
	}
	if st, _ := redisproc.InfoField(info, "master_link_status"); st != "up" {
		return fmt.Errorf("replica reports master_link_status:%s, want up", st)
	}
	return nil
}

// WaitReplicaLinked waits (at most 30s) until master counts replica as
// connected and online and the replica's link is up again, as after the
// replica was paused and continued.
func WaitReplicaLinked(tb testing.TB, master, replica *Server) {
	tb.Helper()
	if err := waitFor(30*time.Second, func() error { return replicaLinked(master.srv, replica.srv) }); err != nil {
		tb.Fatalf("replica %s of master %s: %v", replica.Addr(), master.Addr(), err)
	}
}

// containsField reports whether a comma-separated INFO value such as
// "ip=127.0.0.1,port=1234,state=online" holds kv.
func containsField(v, kv string) bool {
	return slices.Contains(strings.Split(v, ","), kv)
}

// waitFor calls cond every 50ms until it returns nil, or returns its last
// error once d has passed.
func waitFor(d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
