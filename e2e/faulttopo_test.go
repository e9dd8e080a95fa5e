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
