package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/faultproxy"
	"github.com/hookgate/hookgate/internal/redisproc"
	"github.com/hookgate/hookgate/internal/testredis"
)

// The Cluster topology of the fault tests: a 3+3 Redis Cluster, every
// node behind a fault proxy that it announces.

// clusterSet is a 3+3 Redis Cluster whose nodes announce their proxies.
type clusterSet struct {
	c     *testredis.Cluster
	nodes []*proxied
}

var clusterTopo = topology{name: "cluster", start: func(t *testing.T) *faultEnv {
	cs := &clusterSet{c: testredis.StartCluster(t, nodeArgs...)}
	var proxies []*faultproxy.Proxy
	var seeds []string
	for _, addr := range cs.c.Addrs() {
		n := &proxied{srv: cs.c.Node(addr), proxy: faultproxy.Start(t, addr)}
		keepLog(t, "redis-"+n.proxy.Addr()+".log", n.srv.Proc().LogFile())
		cs.nodes = append(cs.nodes, n)
		proxies = append(proxies, n.proxy)
		seeds = append(seeds, n.proxy.Addr())
	}
	// Announced at run time, once the cluster is formed on the direct
	// addresses: the nodes gossip the new port, replicas reconnect to
	// their masters through it, and CLUSTER SLOTS hands out proxies.
	for _, n := range cs.nodes {
		cs.announce(t, n)
	}
	cs.waitOK(t)
	return &faultEnv{
		store:   faultStore(map[string]any{"url": "redis://" + seeds[0], "addrs": seeds[1:]}),
		proxies: proxies,
		victim:  func(t *testing.T) *testredis.Server { return cs.masters(t)[0].srv },
		restart: func(t *testing.T, srv *testredis.Server) {
			srv.Restart()
			cs.announce(t, proxiedBySrv(t, cs.nodes, srv))
		},
		proxyOf: func(t *testing.T, srv *testredis.Server) *faultproxy.Proxy {
			return proxiedBySrv(t, cs.nodes, srv).proxy
		},
		cluster: cs,
	}
}}

func (cs *clusterSet) announce(t *testing.T, n *proxied) {
	t.Helper()
	n.configure(t, "cluster-announce-ip", "127.0.0.1", "cluster-announce-port", n.port())
}

// clusterNodes is n's view of the cluster.
func clusterNodes(n *proxied) ([]testredis.ClusterNode, error) {
	text, err := n.srv.Proc().Do("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	return testredis.ParseClusterNodes(text)
}

// up are the nodes whose server answers.
func (cs *clusterSet) up() []*proxied {
	var up []*proxied
	for _, n := range cs.nodes {
		if n.srv.Proc().Ping() == nil {
			up = append(up, n)
		}
	}
	return up
}

// masters are the nodes serving slots, not judged failed, as the first
// node that answers sees them, in its order.
func (cs *clusterSet) masters(t *testing.T) []*proxied {
	t.Helper()
	for _, n := range cs.up() {
		view, err := clusterNodes(n)
		if err != nil {
			continue
		}
		var ms []*proxied
		for _, cn := range view {
			if cn.Has("master") && cn.Slots > 0 && !cn.Has("fail") && !cn.Has("fail?") {
				ms = append(ms, proxiedByAddr(t, cs.nodes, cn.Addr))
			}
		}
		return ms
	}
	t.Fatal("no cluster node answers CLUSTER NODES")
	return nil
}

// waitOK waits (a minute at most) until every node that answers reports
// cluster_state:ok with every slot served by a master not judged failed
// and whose server answers, and knows every node by its proxy.
func (cs *clusterSet) waitOK(t *testing.T) {
	t.Helper()
	waitFor(t, time.Minute, "cluster ok through the proxies", func() (bool, string) {
		for _, n := range cs.up() {
			info, err := n.srv.Proc().Do("CLUSTER", "INFO")
			if err != nil {
				return false, err.Error()
			}
			if st, _ := redisproc.InfoField(info, "cluster_state"); st != "ok" {
				return false, fmt.Sprintf("node %s: cluster_state:%s", n.proxy.Addr(), st)
			}
			view, err := clusterNodes(n)
			if err != nil {
				return false, err.Error()
			}
			served := 0
			for _, cn := range view {
				holder := slices.IndexFunc(cs.nodes, func(p *proxied) bool { return p.proxy.Addr() == cn.Addr })
				if holder < 0 {
					return false, fmt.Sprintf("node %s knows %s by an address that is no proxy's", n.proxy.Addr(), cn.Addr)
				}
				if cn.Slots == 0 {
					continue
				}
				if cn.Has("fail") || cn.Has("fail?") || cs.nodes[holder].srv.Proc().Ping() != nil {
					return false, fmt.Sprintf("node %s: %s holds %d slots but is down (%s)", n.proxy.Addr(), cn.Addr, cn.Slots, cn.Flags)
				}
				served += cn.Slots
			}
			if served != 16384 {
				return false, fmt.Sprintf("node %s: %d slots served", n.proxy.Addr(), served)
			}
		}
		return true, ""
	})
}

// reshardPlan picks a slot migration that moves some of the gateway's
// keys, and few slots besides: redis-cli's reshard takes a master's lowest
// slots first, so from is the master whose first slot holding keys comes
// earliest in its own slots, n how many slots up to it, and to another
// master.
func (cs *clusterSet) reshardPlan(t *testing.T) (from, to testredis.ClusterNode, n int) {
	t.Helper()
	view, err := clusterNodes(cs.masters(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	var masters []testredis.ClusterNode
	for _, cn := range view {
		if cn.Has("master") && cn.Slots > 0 && !cn.Has("fail") {
			masters = append(masters, cn)
		}
	}
	for _, m := range masters {
		var slots []int
		for _, r := range m.Ranges {
			for s := r[0]; s <= r[1]; s++ {
				slots = append(slots, s)
			}
		}
		slices.Sort(slots)
		cmds := make([][]string, len(slots))
		for i, s := range slots {
			cmds[i] = []string{"CLUSTER", "COUNTKEYSINSLOT", strconv.Itoa(s)}
		}
		counts, err := proxiedByAddr(t, cs.nodes, m.Addr).srv.Proc().Pipeline(cmds...)
		if err != nil {
			t.Fatalf("reshard: CLUSTER COUNTKEYSINSLOT on %s: %v", m.Addr, err)
		}
		for i, c := range counts {
			if c != "0" {
				if n == 0 || i+1 < n {
					from, n = m, i+1
				}
				break
			}
		}
	}
	if n == 0 {
		t.Fatal("reshard: no key of the gateway on any master")
	}
	for _, m := range masters {
		if m.ID != from.ID {
			return from, m, n
		}
	}
	t.Fatal("reshard: no other master to move slots to")
	return
}
