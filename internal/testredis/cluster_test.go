package testredis

import (
	"slices"
	"testing"
)

// TestCluster: a new cluster has three masters, each serving slots, among
// its six nodes; killing one promotes its replica, and the cluster is ok
// again with three masters, the killed one not among them.
func TestCluster(t *testing.T) {
	c := StartCluster(t)
	if n := len(c.Addrs()); n != 6 {
		t.Fatalf("Addrs: %d nodes, want 6", n)
	}
	before := c.Masters()
	if len(before) != 3 {
		t.Fatalf("Masters = %v, want 3", before)
	}
	var replicas []string
	for _, a := range c.Addrs() {
		if !slices.Contains(before, a) {
			replicas = append(replicas, a)
		}
	}

	killed := before[0]
	replica := c.ReplicaOf(killed)
	if !slices.Contains(replicas, replica) {
		t.Fatalf("ReplicaOf(%s) = %s, not one of the replicas %v", killed, replica, replicas)
	}
	c.KillMaster(killed)
	c.WaitOK()
	after := c.Masters()
	if len(after) != 3 || slices.Contains(after, killed) {
		t.Fatalf("Masters after killing %s = %v, want 3 others", killed, after)
	}
	if !slices.Contains(after, replica) {
		t.Errorf("masters after failover %v: want the killed master's replica %s among them", after, replica)
	}
	if c.Node(killed).Proc().Ping() == nil {
		t.Errorf("killed master %s still answers", killed)
	}
}
