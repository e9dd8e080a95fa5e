package testredis

import (
	"testing"

	"github.com/hookgate/hookgate/internal/redisproc"
)

// TestSentinel: a new sentinel sends clients to the master, which a write
// reaches the replica of; after Failover it sends them to the former
// replica, now a master that takes writes, and the former master is its
// replica, with the data written before the failover and the one written
// after.
func TestSentinel(t *testing.T) {
	s := StartSentinel(t)
	master, replica := s.Master(), s.Replica()
	if got, err := s.Proc().MasterAddr(s.MasterName()); err != nil || got != master.Addr() {
		t.Fatalf("MasterAddr = %q, %v; want the master %s", got, err, master.Addr())
	}
	if got := setWait(t, master, "before", "1", "1500"); got != "1" {
		t.Fatalf("WAIT 1 after SET on the master = %s, want 1", got)
	}

	s.Failover()
	if s.Master() != replica || s.Replica() != master {
		t.Fatalf("after Failover: Master %s, Replica %s; want them swapped (%s, %s)",
			s.Master().Addr(), s.Replica().Addr(), replica.Addr(), master.Addr())
	}
	if got, err := s.Proc().MasterAddr(s.MasterName()); err != nil || got != replica.Addr() {
		t.Fatalf("MasterAddr after Failover = %q, %v; want the former replica %s", got, err, replica.Addr())
	}
	if role, _ := redisproc.InfoField(replica.Info("replication"), "role"); role != "master" {
		t.Errorf("former replica's role = %q, want master", role)
	}
	if got := setWait(t, replica, "after", "2", "1500"); got != "1" {
		t.Fatalf("WAIT 1 after SET on the new master = %s, want 1 (the former master, now its replica)", got)
	}
	for k, want := range map[string]string{"before": "1", "after": "2"} {
		if got, err := master.Proc().Do("GET", k); err != nil || got != want {
			t.Errorf("GET %s on the former master = %q, %v; want %q", k, got, err, want)
		}
	}
	if _, err := master.Proc().Do("SET", "k", "v"); err == nil {
		t.Error("SET on the former master succeeded, want READONLY")
	}
}

// TestSentinelKillMaster: once the master is killed, the sentinel sends
// clients to the former replica, which has what the replica acknowledged
// and takes writes; the killed master, restarted, is made its replica.
func TestSentinelKillMaster(t *testing.T) {
	s := StartSentinel(t)
	master, replica := s.Master(), s.Replica()
	if got := setWait(t, master, "before", "1", "1500"); got != "1" {
		t.Fatalf("WAIT 1 after SET on the master = %s, want 1", got)
	}

	s.KillMaster()
	if s.Master() != replica || s.Replica() != master {
		t.Fatalf("after KillMaster: Master %s, Replica %s; want them swapped (%s, %s)",
			s.Master().Addr(), s.Replica().Addr(), replica.Addr(), master.Addr())
	}
	if got, err := s.Proc().MasterAddr(s.MasterName()); err != nil || got != replica.Addr() {
		t.Fatalf("MasterAddr after KillMaster = %q, %v; want the former replica %s", got, err, replica.Addr())
	}
	if master.Proc().Ping() == nil {
		t.Errorf("killed master %s still answers", master.Addr())
	}
	if got, err := replica.Proc().Do("GET", "before"); err != nil || got != "1" {
		t.Errorf("GET before on the new master = %q, %v; want 1", got, err)
	}

	master.Restart()
	s.WaitOK()
	if got := setWait(t, replica, "after", "2", "1500"); got != "1" {
		t.Fatalf("WAIT 1 after SET on the new master = %s, want 1 (the restarted master, now its replica)", got)
	}
	if got, err := master.Proc().Do("GET", "after"); err != nil || got != "2" {
		t.Errorf("GET after on the restarted master = %q, %v; want 2", got, err)
	}
}
