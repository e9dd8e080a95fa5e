package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/faultproxy"
	"github.com/hookgate/hookgate/internal/redisproc"
	"github.com/hookgate/hookgate/internal/testredis"
)

// The Sentinel topology of the fault tests: a master, its replica and a
// sentinel, each behind a fault proxy.

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
		keepLog(t, "redis-"+n.proxy.Addr()+".log", srv.Proc().LogFile())
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
	keepLog(t, "sentinel.log", sent.LogFile())
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
