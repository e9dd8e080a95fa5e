package testredis

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/redisproc"
)

// Cluster is a running Redis Cluster of six nodes on loopback TCP: three
// masters holding the 16384 slots, each with one replica.
type Cluster struct {
	tb    testing.TB
	nodes []*Server

	mu     sync.Mutex
	killed map[string]bool // addresses of nodes killed by KillMaster
}

// clusterNodeTimeout (ms) is how long a silent node takes to be judged
// failed; kept short so that a failover takes a few seconds, not the
// default 15s and more.
const clusterNodeTimeout = "2000"

// slots is the number of hash slots of a Redis Cluster.
const slots = 16384

// StartCluster runs six cluster-enabled redis-servers for tb, with extra
// appended to each one's command line, joins them with `redis-cli
// --cluster create … --cluster-replicas 1`, and returns once every node
// reports cluster_state:ok with every slot served, and every replica's
// link to its master is up. Every node is killed and its directory
// removed at cleanup.
func StartCluster(tb testing.TB, extra ...string) *Cluster {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatal("redis-cli not found on PATH (the cluster tests create the cluster with it): run `make deps`, or apt-get install -y redis-tools")
	}
	c := &Cluster{tb: tb, killed: map[string]bool{}}
	for range 6 {
		c.nodes = append(c.nodes, StartTCP(tb, slices.Concat([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", clusterNodeTimeout,
			// A replica may take over however long since it last heard
			// from its master: tests kill masters at any moment.
			"--cluster-replica-validity-factor", "0",
		}, fastSync, extra)...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitOK()
	return c
}

// Addrs are the addresses (127.0.0.1:PORT) of all six nodes, in the order
// they were started, killed ones included: the seeds a client is given.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Node is the server at addr, one of Addrs, for pausing or asking it
// something; nil if there is none.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// Masters are the addresses of the masters that currently serve slots and
// are not judged failed, sorted, as a live node sees the cluster.
func (c *Cluster) Masters() []string {
	c.tb.Helper()
	var last error
	for _, n := range c.live() {
		nodes, err := clusterNodes(n.srv)
		if err != nil {
			last = err
			continue
		}
		var masters []string
		for _, cn := range nodes {
			if cn.master() && cn.Slots > 0 && !cn.failed() {
				masters = append(masters, cn.Addr)
			}
		}
		slices.Sort(masters)
		return masters
	}
	c.tb.Fatalf("no cluster node answers CLUSTER NODES: %v", last)
	return nil
}

// ReplicaOf is the address of a live replica of the master at addr, as a
// live node sees the cluster; it fails the test if there is none.
func (c *Cluster) ReplicaOf(addr string) string {
	c.tb.Helper()
	for _, n := range c.live() {
		nodes, err := clusterNodes(n.srv)
		if err != nil {
			continue
		}
		id := ""
		for _, cn := range nodes {
			if cn.Addr == addr {
				id = cn.ID
			}
		}
		for _, cn := range nodes {
			if id != "" && cn.MasterID == id && !cn.failed() && !c.isKilled(cn.Addr) {
				return cn.Addr
			}
		}
		c.tb.Fatalf("ReplicaOf(%s): no live replica in %s's view", addr, n.Addr())
	}
	c.tb.Fatalf("ReplicaOf(%s): no cluster node answers CLUSTER NODES", addr)
	return ""
}

func (c *Cluster) isKilled(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killed[addr]
}

// KillMaster kills the master at addr with SIGKILL, as a crash would. Its
// replica takes over after the node timeout (2s); WaitOK waits for that.
// It fails the test if addr is not a current master.
func (c *Cluster) KillMaster(addr string) {
	c.tb.Helper()
	if !slices.Contains(c.Masters(), addr) {
		c.tb.Fatalf("KillMaster(%s): not a current master (masters: %v)", addr, c.Masters())
	}
	c.Node(addr).Kill()
	c.mu.Lock()
	c.killed[addr] = true
	c.mu.Unlock()
}

// WaitOK waits (at most a minute) until the cluster is whole again: every
// live node knows the six nodes, reports cluster_state:ok and every slot
// served, sees no killed node holding slots (after KillMaster: a replica
// was promoted in its place) and no live master without slots (at start:
// every replica assigned), and, if it is a replica, has its link to its
// master up. It fails the test with the last reason otherwise.
func (c *Cluster) WaitOK() {
	c.tb.Helper()
	if err := waitFor(time.Minute, c.ok); err != nil {
		c.tb.Fatalf("cluster not ok: %v", err)
	}
}

func (c *Cluster) ok() error {
	live := c.live()
	if len(live) == 0 {
		return errors.New("every node was killed")
	}
	for _, n := range live {
		if err := c.nodeOK(n.srv); err != nil {
			return fmt.Errorf("node %s: %w", n.Addr(), err)
		}
	}
	return nil
}

func (c *Cluster) nodeOK(n *redisproc.Server) error {
	info, err := n.Do("CLUSTER", "INFO")
	if err != nil {
		return err
	}
	for field, want := range map[string]string{
		"cluster_state":       "ok",
		"cluster_known_nodes": strconv.Itoa(len(c.nodes)),
		"cluster_slots_ok":    strconv.Itoa(slots),
	} {
		if got, _ := redisproc.InfoField(info, field); got != want {
			return fmt.Errorf("%s:%s, want %s", field, got, want)
		}
	}
	nodes, err := clusterNodes(n)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	served := 0
	for _, cn := range nodes {
		if cn.Slots == 0 {
			// A live master without slots: a replica not yet assigned
			// (redis-cli's CLUSTER REPLICATE still spreading).
			if cn.master() && !c.killed[cn.Addr] {
				return fmt.Errorf("node %s is a master without slots", cn.Addr)
			}
			continue
		}
		if c.killed[cn.Addr] {
			return fmt.Errorf("killed node %s still holds %d slots", cn.Addr, cn.Slots)
		}
		if cn.failed() {
			return fmt.Errorf("node %s holding %d slots is flagged %s", cn.Addr, cn.Slots, cn.Flags)
		}
		served += cn.Slots
	}
	if served != slots {
		return fmt.Errorf("%d of %d slots held", served, slots)
	}
	repl, err := n.Do("INFO", "replication")
	if err != nil {
		return err
	}
	if role, _ := redisproc.InfoField(repl, "role"); role == "slave" {
		if st, _ := redisproc.InfoField(repl, "master_link_status"); st != "up" {
			return fmt.Errorf("replica with master_link_status:%s", st)
		}
	}
	return nil
}

// live are the nodes not killed.
func (c *Cluster) live() []*Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []*Server
	for _, n := range c.nodes {
		if !c.killed[n.Addr()] {
			live = append(live, n)
		}
	}
	return live
}

// ClusterNode is one line of CLUSTER NODES.
type ClusterNode struct {
	ID, MasterID string   // MasterID: "-" for a master
	Addr         string   // 127.0.0.1:PORT
	Flags        string   // myself,master / slave / master,fail / …
	Slots        int      // how many slots it serves
	Ranges       [][2]int // which: the first and last of each range
}

// Has reports whether the node carries flag (master, fail, fail?, …).
func (n ClusterNode) Has(flag string) bool { return slices.Contains(strings.Split(n.Flags, ","), flag) }

func (n ClusterNode) master() bool { return n.Has("master") }
func (n ClusterNode) failed() bool { return n.Has("fail") || n.Has("fail?") }

// Serves reports whether the node serves slot.
func (n ClusterNode) Serves(slot int) bool {
	for _, r := range n.Ranges {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

// clusterNodes asks n for CLUSTER NODES and parses it (ParseClusterNodes).
func clusterNodes(n *redisproc.Server) ([]ClusterNode, error) {
	text, err := n.Do("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	return ParseClusterNodes(text)
}

// ParseClusterNodes parses a CLUSTER NODES reply: "<id>
// <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv>
// <config-epoch> <link-state> <slot> <slot> …", a slot being "N", "N-M" or
// a bracketed migration (not counted).
func ParseClusterNodes(text string) ([]ClusterNode, error) {
	var nodes []ClusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q: too few fields", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		cn := ClusterNode{ID: f[0], MasterID: f[3], Addr: addr, Flags: f[2]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || b < a {
				return nil, fmt.Errorf("CLUSTER NODES line %q: bad slot range %q", line, r)
			}
			cn.Slots += b - a + 1
			cn.Ranges = append(cn.Ranges, [2]int{a, b})
		}
		nodes = append(nodes, cn)
	}
	return nodes, nil
}
