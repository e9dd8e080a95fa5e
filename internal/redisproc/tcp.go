package redisproc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// busOffset is where Redis Cluster puts a node's bus port: its port + 10000.
const busOffset = 10000

// StartTCP runs redis-server from PATH on a free loopback TCP port (and no
// unix socket), with data and log in dir, appendfsync set to fsync, and
// args appended to its command line (such as "--replicaof", "127.0.0.1",
// "6379", or "--cluster-enabled", "yes"), and waits until it answers PING.
//
// The port is chosen below the kernel's ephemeral range, with port+10000
// (the cluster bus port) free as well, so that outgoing connections never
// take it; if another process binds it first, StartTCP tries another.
func StartTCP(dir, fsync string, args ...string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	return onFreePort("redis-server", func(port int) (*Server, error) {
		s := &Server{dir: dir, port: port, fsync: fsync, args: args}
		return s, s.start()
	})
}

// onFreePort calls start with a free port (freePort) until it does not
// fail for the port having been taken in between, at most 20 times.
func onFreePort[S any](what string, start func(port int) (S, error)) (S, error) {
	var zero S
	var last error
	for range 20 {
		port, err := freePort()
		if err != nil {
			return zero, err
		}
		s, err := start(port)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errAddrInUse) {
			return zero, err
		}
		last = err
	}
	return zero, fmt.Errorf("no free port for %s after 20 tries: %w", what, last)
}

// freePort picks a random port p such that p and p+busOffset are both free
// on the loopback interface and below the ephemeral range. Between this
// probe and the server's bind another process may take it: StartTCP
// retries then.
func freePort() (int, error) {
	lo, hi := 10000, ephemeralLow()-busOffset-1
	if hi <= lo {
		return 0, fmt.Errorf("no room below the ephemeral port range (%d) for a port and its cluster bus port", ephemeralLow())
	}
	for range 100 {
		p := lo + rand.IntN(hi-lo)
		if portFree(p) && portFree(p+busOffset) {
			return p, nil
		}
	}
	return 0, errors.New("no free loopback port pair found in 100 tries")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the first port the kernel hands out for outgoing
// connections (32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
