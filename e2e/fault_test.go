package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/faultproxy"
	"github.com/hookgate/hookgate/internal/testredis"
)

// The fault-injection suite (issue 14): each fault is injected while
// providers send at full speed and four subscribers take deliveries, on
// the real binary, and after it: the gateway is still running, every
// event answered 200 reached every subscriber, the providers got 200 or
// 503 with Retry-After and never waited past the store timeout, memory
// and goroutines stayed bounded, and 200s and deliveries came back after
// the heal. `make test` runs each fault on one Redis (TestFault); `make
// chaos` runs every fault on every topology, repeated (TestChaos).

// hold is how long a fault lasts: long enough for every path of the
// gateway (ingest, claim, record, pause flags) to hit it many times.
const hold = 3 * time.Second

// eachProxy applies do to every proxy of e.
func eachProxy(e *faultEnv, do func(*faultproxy.Proxy)) {
	for _, p := range e.proxies {
		do(p)
	}
}

// faults is every fault, in the order they run.
var faults = []fault{
	{name: "proxy reset-all x5", run: func(t *testing.T, e *faultEnv) {
		// Several resets in a row: the reconnections of the first are
		// themselves cut by the next.
		for i := range 5 {
			if i > 0 {
				time.Sleep(600 * time.Millisecond)
			}
			eachProxy(e, (*faultproxy.Proxy).ResetAll)
		}
	}},
	{name: "proxy refuse 3s", run: func(t *testing.T, e *faultEnv) {
		// Redis gone: open connections reset, new ones refused.
		eachProxy(e, (*faultproxy.Proxy).RefuseOn)
		eachProxy(e, (*faultproxy.Proxy).ResetAll)
		time.Sleep(hold)
		eachProxy(e, (*faultproxy.Proxy).RefuseOff)
	}},
	{name: "proxy blackhole 3s", run: func(t *testing.T, e *faultEnv) {
		eachProxy(e, (*faultproxy.Proxy).Blackhole)
		time.Sleep(hold)
		eachProxy(e, (*faultproxy.Proxy).Heal)
	}},
	{name: "redis SIGKILL+restart", run: func(t *testing.T, e *faultEnv) {
		// appendfsync always: what Redis acknowledged is in its AOF.
		srv := e.victim(t)
		srv.Kill()
		time.Sleep(2 * time.Second)
		e.restart(t, srv)
	}},
	{name: "redis SIGSTOP 3s", run: func(t *testing.T, e *faultEnv) {
		srv := e.victim(t)
		srv.Pause()
		time.Sleep(hold)
		srv.Continue()
	}},
	{name: "CLIENT PAUSE 3000 ALL", run: func(t *testing.T, e *faultEnv) {
		srv := e.victim(t)
		redisCmd(t, srv, 5*time.Second, "CLIENT", "PAUSE", strconv.Itoa(int(hold/time.Millisecond)), "ALL")
		time.Sleep(hold)
		// Ends it at a known moment if it has not ended by itself.
		redisCmd(t, srv, 5*time.Second, "CLIENT", "UNPAUSE")
	}},
	{name: "DEBUG SLEEP 2", run: func(t *testing.T, e *faultEnv) {
		// Returns when the server wakes up.
		redisCmd(t, e.victim(t), 10*time.Second, "DEBUG", "SLEEP", "2")
	}},
	{name: "maxmemory OOM 3s", run: func(t *testing.T, e *faultEnv) {
		// Under noeviction (the default, and what the README recommends)
		// every write is refused with OOM while used memory is above it.
		srv := e.victim(t)
		redisCmd(t, srv, 5*time.Second, "CONFIG", "SET", "maxmemory", "1")
		time.Sleep(hold)
		redisCmd(t, srv, 5*time.Second, "CONFIG", "SET", "maxmemory", "0")
	}},
	{name: "REPLICAOF demotion 3s", topologies: []string{"single", "sentinel"}, run: func(t *testing.T, e *faultEnv) {
		// The server turns replica (writes answered READONLY) of another
		// redis-server, frozen so that it never gets to send its (empty)
		// data set: a real full sync would wipe what the gateway was
		// acknowledged for, a loss of the test's making.
		other := testredis.StartTCP(t)
		other.Pause()
		srv := e.victim(t)
		host, port, _ := strings.Cut(other.Addr(), ":")
		redisCmd(t, srv, 5*time.Second, "REPLICAOF", host, port)
		time.Sleep(hold)
		redisCmd(t, srv, 5*time.Second, "REPLICAOF", "NO", "ONE")
	}},
}

// TestFault is the short matrix, every fault on one Redis, run by `make
// test`: a couple of minutes on 2 cores.
func TestFault(t *testing.T) {
	for _, f := range faults {
		if !f.appliesTo(single.name) {
			continue
		}
		t.Run(f.name, func(t *testing.T) { runFault(t, single, f) })
	}
}

// chaos reports whether the long matrix is asked for (`make chaos`).
func chaos() bool { return os.Getenv("HOOKGATE_CHAOS") == "1" }
