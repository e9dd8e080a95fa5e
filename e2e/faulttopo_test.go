package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/faultproxy"
	"github.com/hookgate/hookgate/internal/redisproc"
	"github.com/hookgate/hookgate/internal/testredis"
)

// The Redis deployments a fault test runs the gateway on. In each, every
// address the gateway connects to is a fault proxy's, so that a network
// fault cuts the gateway off while Redis itself runs on; server faults
// reach the servers directly.

// topology starts a Redis deployment for a fault test.
type topology struct {
	name  string
	start func(t *testing.T) *faultEnv
}

// faultEnv is one fault test's Redis: what the gateway is configured
// with, and the handles the faults use.
type faultEnv struct {
	store   map[string]any      // the config's store block
	proxies []*faultproxy.Proxy // every path from the gateway to Redis
	// victim is the server a server fault hits: the only one, the
	// Sentinel's master, or a Cluster master.
	victim func(t *testing.T) *testredis.Server
	// restart brings a killed victim back with its data (AOF), and sets
	// again what the topology set on it at run time.
	restart func(t *testing.T, srv *testredis.Server)
	// proxyOf is the proxy in front of srv: while srv is killed it
	// refuses, as the address of a dead server does.
	proxyOf func(t *testing.T, srv *testredis.Server) *faultproxy.Proxy

	sentinel *sentinelSet // the Sentinel topology's, for its own faults
	cluster  *clusterSet  // the Cluster topology's, for its own faults
}

// single is one redis-server on a unix socket, appendfsync always, behind
// one proxy: the deployment of most gateways.
var single = topology{name: "single", start: func(t *testing.T) *faultEnv {
	// DEBUG is off by default since Redis 7; "local" allows it on the
	// socket, which only the test reaches.
	srv := testredis.Start(t, "--enable-debug-command", "local")
	p := faultproxy.Start(t, srv.URL())
	return &faultEnv{
		store:   faultStore(map[string]any{"url": p.URL()}),
		proxies: []*faultproxy.Proxy{p},
		victim:  func(*testing.T) *testredis.Server { return srv },
		restart: func(t *testing.T, srv *testredis.Server) { srv.Restart() },
		proxyOf: func(*testing.T, *testredis.Server) *faultproxy.Proxy { return p },
	}
}}

// faultStore is a store block with the redis keys given.
func faultStore(redis map[string]any) map[string]any {
	redis["prefix"] = fmt.Sprintf("fault%d", prefixSeq.Add(1))
	return map[string]any{"redis": redis}
}

// redisCmd sends one command straight to srv (not through a proxy) and
// returns its reply: a status, an integer, or a bulk string. An error
// reply, or no reply within timeout, fails the test: the faults are
// commands that must take.
func redisCmd(t *testing.T, srv *testredis.Server, timeout time.Duration, args ...string) string {
	t.Helper()
	network, addr := "tcp", srv.Addr()
	if srv.Socket() != "" {
		network, addr = "unix", srv.Socket()
	}
	reply, err := rawCmd(network, addr, timeout, args...)
	if err != nil {
		t.Fatalf("redis %s on %s: %v", strings.Join(args, " "), addr, err)
	}
	return reply
}

// rawCmd is one RESP exchange on a connection of its own. redisproc.Do
// bounds its exchange to 2s, which DEBUG SLEEP 2 would hit.
func rawCmd(network, addr string, timeout time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
		return "", fmt.Errorf("empty reply")
	case line[0] == '-':
		return "", fmt.Errorf("error reply: %s", line[1:])
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return line[1:], nil
	}
}

// proxied is a redis-server of a Sentinel or Cluster topology and the
// proxy every other process reaches it through: the gateway, the
// sentinel, its replicas and peers, which learn the proxy's port from
// what the server announces. A network fault on the proxies then cuts
// the gateway off as a real partition would, replication included.
type proxied struct {
	srv   *testredis.Server
	proxy *faultproxy.Proxy
}

// port is the proxy's port, what the server announces.
func (n *proxied) port() string {
	_, port, _ := net.SplitHostPort(n.proxy.Addr())
	return port
}

// runtimeConfig is what a proxied server is told with CONFIG SET, and
// told again after a restart (a restart starts from its command line).
// repl-timeout: a replication link cut by a blackhole stays in it (see
// faultproxy.Blackhole), and a replica gives up on it only after the
// timeout; the default 60s would keep the master's writes waiting on a
// replica (WAIT) for a minute after the heal.
func (n *proxied) configure(t *testing.T, announce ...string) {
	t.Helper()
	args := append([]string{"CONFIG", "SET", "repl-timeout", "5"}, announce...)
	redisCmd(t, n.srv, 5*time.Second, args...)
}

// proxiedByAddr is the node whose proxy is at addr.
func proxiedByAddr(t *testing.T, nodes []*proxied, addr string) *proxied {
	t.Helper()
	for _, n := range nodes {
		if n.proxy.Addr() == addr {
			return n
		}
	}
	t.Fatalf("no node behind %s", addr)
	return nil
}

// proxiedBySrv is the node of srv.
func proxiedBySrv(t *testing.T, nodes []*proxied, srv *testredis.Server) *proxied {
	t.Helper()
	for _, n := range nodes {
		if n.srv == srv {
			return n
		}
	}
	t.Fatalf("no node for %s", srv.Addr())
	return nil
}

// nodeArgs are the command line of every server of the Sentinel and
// Cluster topologies: DEBUG allowed from loopback (DEBUG SLEEP), every
// write fsynced as on the single server (a master killed and restarted
// before a failover must not come back without writes its replica has
// confirmed, which it would then take from the replica too), and a new
// replica sent its data at once.
var nodeArgs = []string{"--enable-debug-command", "local", "--appendfsync", "always", "--repl-diskless-sync-delay", "0"}

// sentinelName is the master name the sentinel watches.
const sentinelName = "hgfault"

// sentinelSet is a master, its replica and a sentinel, each behind a
// proxy, the servers announcing their proxies, so that the sentinel
// hands out proxy addresses.
type sentinelSet struct {
	nodes    []*proxied
	sentinel *redisproc.Sentinel
	proxy    *faultproxy.Proxy // in front of the sentinel
}

var sentinelTopo = topology{name: "sentinel", start: func(t *testing.T) *faultEnv {
	s := &sentinelSet{}
	for range 2 {
		srv := testredis.StartTCP(t, nodeArgs...)
		n := &proxied{srv: srv, proxy: faultproxy.Start(t, srv.Addr())}
		// What a replica reports to its master (and so the sentinel
		// learns): its proxy, not itself.
		n.configure(t, "replica-announce-ip", "127.0.0.1", "replica-announce-port", n.port())
		s.nodes = append(s.nodes, n)
	}
	master, replica := s.nodes[0], s.nodes[1]
	redisCmd(t, replica.srv, 5*time.Second, "REPLICAOF", "127.0.0.1", master.port())

	dir := t.TempDir()
	sent, err := redisproc.StartSentinel(dir,
		"sentinel monitor "+sentinelName+" 127.0.0.1 "+master.port()+" 1",
		"sentinel down-after-milliseconds "+sentinelName+" 1000",
		"sentinel failover-timeout "+sentinelName+" 10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sent.Kill)
	// As testredis.StartSentinel: INFO every 500ms, so that a failover
	// and an old master's return are seen within seconds.
	if _, err := sent.Do("SENTINEL", "DEBUG", "info-period", "500", "publish-period", "250"); err != nil {
		t.Fatalf("SENTINEL DEBUG: %v", err)
	}
	s.sentinel = sent
	s.proxy = faultproxy.Start(t, sent.Addr())
	s.waitOK(t, master, replica)

	proxies := []*faultproxy.Proxy{s.proxy}
	for _, n := range s.nodes {
		proxies = append(proxies, n.proxy)
	}
	return &faultEnv{
		store:   faultStore(map[string]any{"url": s.proxy.URL(), "master_name": sentinelName}),
		proxies: proxies,
		victim:  func(t *testing.T) *testredis.Server { return s.master(t).srv },
		restart: func(t *testing.T, srv *testredis.Server) {
			n := proxiedBySrv(t, s.nodes, srv)
			srv.Restart()
			n.configure(t, "replica-announce-ip", "127.0.0.1", "replica-announce-port", n.port())
		},
		proxyOf: func(t *testing.T, srv *testredis.Server) *faultproxy.Proxy {
			return proxiedBySrv(t, s.nodes, srv).proxy
		},
		sentinel: s,
	}
}}

// master is the node the sentinel sends clients to now.
func (s *sentinelSet) master(t *testing.T) *proxied {
	t.Helper()
	addr, err := s.sentinel.MasterAddr(sentinelName)
	if err != nil {
		t.Fatalf("SENTINEL GET-MASTER-ADDR-BY-NAME: %v", err)
	}
	return proxiedByAddr(t, s.nodes, addr)
}

// other is the node that is not n.
func (s *sentinelSet) other(n *proxied) *proxied {
	if s.nodes[0] == n {
		return s.nodes[1]
	}
	return s.nodes[0]
}

// waitOK waits (a minute at most) until the sentinel sends clients to
// master, judges it up with no failover under way, and knows replica as
// its linked replica, fit to be promoted; and the servers agree.
func (s *sentinelSet) waitOK(t *testing.T, master, replica *proxied) {
	t.Helper()
	waitFor(t, time.Minute, "sentinel set whole", func() (bool, string) {
		if err := s.promoted(master); err != nil {
			return false, err.Error()
		}
		reps, err := s.sentinel.Replicas(sentinelName)
		if err != nil {
			return false, err.Error()
		}
		found := false
		for _, r := range reps {
			if r["name"] != replica.proxy.Addr() {
				continue
			}
			found = true
			if r["flags"] != "slave" || r["master-link-status"] != "ok" || r["runid"] == "" {
				return false, fmt.Sprintf("sentinel's view of replica %s: flags %q, link %q, runid %q", r["name"], r["flags"], r["master-link-status"], r["runid"])
			}
		}
		if !found {
			return false, fmt.Sprintf("sentinel does not know replica %s", replica.proxy.Addr())
		}
		info, err := replica.srv.Proc().Do("INFO", "replication")
		if err != nil {
			return false, err.Error()
		}
		if st, _ := redisproc.InfoField(info, "master_link_status"); st != "up" {
			return false, "replica link " + st
		}
		return true, ""
	})
}

// promoted reports (as an error) why master is not yet the master the
// sentinel hands out, taking writes.
func (s *sentinelSet) promoted(master *proxied) error {
	addr, err := s.sentinel.MasterAddr(sentinelName)
	if err != nil {
		return err
	}
	if addr != master.proxy.Addr() {
		return fmt.Errorf("sentinel names %s the master, want %s", addr, master.proxy.Addr())
	}
	m, err := s.sentinel.Master(sentinelName)
	if err != nil {
		return err
	}
	if m["flags"] != "master" {
		return fmt.Errorf("sentinel flags the master %q", m["flags"])
	}
	info, err := master.srv.Proc().Do("INFO", "replication")
	if err != nil {
		return err
	}
	if role, _ := redisproc.InfoField(info, "role"); role != "master" {
		return fmt.Errorf("master reports role:%s", role)
	}
	return nil
}

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

// clusterNode is a line of CLUSTER NODES, as far as the fault tests read it.
type clusterNode struct {
	id, addr, flags string
	slots           int      // how many it serves
	ranges          [][2]int // which, first and last of each range
}

// serves reports whether cn serves slot.
func (cn clusterNode) serves(slot int) bool {
	for _, r := range cn.ranges {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

// clusterNodes is n's view of the cluster.
func clusterNodes(n *proxied) ([]clusterNode, error) {
	text, err := n.srv.Proc().Do("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var nodes []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		cn := clusterNode{id: f[0], addr: addr, flags: f[2]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			cn.slots += b - a + 1
			cn.ranges = append(cn.ranges, [2]int{a, b})
		}
		nodes = append(nodes, cn)
	}
	return nodes, nil
}

func (cn clusterNode) has(flag string) bool {
	return slices.Contains(strings.Split(cn.flags, ","), flag)
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
			if cn.has("master") && cn.slots > 0 && !cn.has("fail") && !cn.has("fail?") {
				ms = append(ms, proxiedByAddr(t, cs.nodes, cn.addr))
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
				holder := slices.IndexFunc(cs.nodes, func(p *proxied) bool { return p.proxy.Addr() == cn.addr })
				if holder < 0 {
					return false, fmt.Sprintf("node %s knows %s by an address that is no proxy's", n.proxy.Addr(), cn.addr)
				}
				if cn.slots == 0 {
					continue
				}
				if cn.has("fail") || cn.has("fail?") || cs.nodes[holder].srv.Proc().Ping() != nil {
					return false, fmt.Sprintf("node %s: %s holds %d slots but is down (%s)", n.proxy.Addr(), cn.addr, cn.slots, cn.flags)
				}
				served += cn.slots
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
func (cs *clusterSet) reshardPlan(t *testing.T) (from, to clusterNode, n int) {
	t.Helper()
	view, err := clusterNodes(cs.masters(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	var masters []clusterNode
	for _, cn := range view {
		if cn.has("master") && cn.slots > 0 && !cn.has("fail") {
			masters = append(masters, cn)
		}
	}
	for _, m := range masters {
		var slots []int
		for _, r := range m.ranges {
			for s := r[0]; s <= r[1]; s++ {
				slots = append(slots, s)
			}
		}
		slices.Sort(slots)
		cmds := make([][]string, len(slots))
		for i, s := range slots {
			cmds[i] = []string{"CLUSTER", "COUNTKEYSINSLOT", strconv.Itoa(s)}
		}
		counts, err := proxiedByAddr(t, cs.nodes, m.addr).srv.Proc().Pipeline(cmds...)
		if err != nil {
			t.Fatalf("reshard: CLUSTER COUNTKEYSINSLOT on %s: %v", m.addr, err)
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
		if m.id != from.id {
			return from, m, n
		}
	}
	t.Fatal("reshard: no other master to move slots to")
	return
}
