package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/faultproxy"
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

	gw *gateway // the gateway under test, set by runFault
}

// single is one redis-server on a unix socket, appendfsync always, behind
// one proxy: the deployment of most gateways.
var single = topology{name: "single", start: func(t *testing.T) *faultEnv {
	// DEBUG is off by default since Redis 7; "local" allows it on the
	// socket, which only the test reaches.
	srv := testredis.Start(t, "--enable-debug-command", "local")
	p := faultproxy.Start(t, srv.URL())
	keepLog(t, "redis.log", srv.Proc().LogFile())
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

// configure tells the server, with CONFIG SET, what it announces
// (announce: names and values) and its repl-timeout; it is told again
// after a restart, which starts from its command line. repl-timeout: a replication link cut by a blackhole stays in it (see
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
