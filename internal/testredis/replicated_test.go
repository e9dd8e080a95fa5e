package testredis

import (
	"testing"

	"github.com/hookgate/hookgate/internal/redisproc"
)

// setWait sets k to v on the master and, on the same connection, waits at
// most ms for one replica to acknowledge it; it returns WAIT's count.
func setWait(t *testing.T, master *Server, k, v, ms string) string {
	t.Helper()
	replies, err := master.Proc().Pipeline([]string{"SET", k, v}, []string{"WAIT", "1", ms})
	if err != nil {
		t.Fatalf("SET and WAIT on the master: %v", err)
	}
	return replies[1]
}

// TestStartReplicated: a write on the master reaches the replica, which
// refuses writes of its own.
func TestStartReplicated(t *testing.T) {
	master, replica := StartReplicated(t)
	if got, want := master.URL(), "redis://"+master.Addr(); got != want {
		t.Errorf("master URL = %q, want %q", got, want)
	}
	if n, _ := redisproc.InfoField(master.Info("replication"), "connected_slaves"); n != "1" {
		t.Errorf("master connected_slaves = %q, want 1", n)
	}
	if got := setWait(t, master, "k", "v", "1500"); got != "1" {
		t.Fatalf("WAIT 1 after SET = %s, want 1 replica acknowledging", got)
	}
	if got, err := replica.Proc().Do("GET", "k"); err != nil || got != "v" {
		t.Errorf("GET k on the replica = %q, %v; want v", got, err)
	}
	if _, err := replica.Proc().Do("SET", "k", "w"); err == nil {
		t.Error("SET on the replica succeeded, want READONLY")
	}
}

// TestReplicaPaused: a paused replica acknowledges nothing (WAIT gives up
// with 0), and acknowledges again after Continue.
func TestReplicaPaused(t *testing.T) {
	master, replica := StartReplicated(t)
	replica.Pause()
	if got := setWait(t, master, "k", "v", "200"); got != "0" {
		t.Errorf("WAIT 1 with the replica paused = %s, want 0", got)
	}
	replica.Continue()
	WaitReplicaLinked(t, master, replica)
	if got := setWait(t, master, "k", "w", "1500"); got != "1" {
		t.Errorf("WAIT 1 after Continue = %s, want 1", got)
	}
}
