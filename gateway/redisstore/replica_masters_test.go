package redisstore

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// infoGate is a TCP proxy in front of a redis-server that holds every INFO
// command (go-redis sends it as "info") until released, as a master slow to
// answer would: the test knows exactly when an INFO is in flight.
type infoGate struct {
	ln      net.Listener
	target  string
	infos   atomic.Int32  // INFO commands seen
	arrived chan struct{} // one value per INFO seen
	release chan struct{} // closed: let INFO through
	once    sync.Once
}

func startInfoGate(t *testing.T, target string) *infoGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &infoGate{ln: ln, target: target, arrived: make(chan struct{}, 100), release: make(chan struct{})}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		g.open()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); io.Copy(c, up); c.Close() }()
			go func() { defer conns.Done(); g.forward(up, c); up.Close() }()
		}
	}()
	return g
}

// forward copies the client's commands to Redis, holding back a chunk that
// holds an INFO until the gate opens.
func (g *infoGate) forward(dst, src net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if bytes.Contains(bytes.ToLower(buf[:n]), []byte("\r\ninfo\r\n")) {
				g.infos.Add(1)
				g.arrived <- struct{}{}
				<-g.release
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// open lets every INFO through, from now on.
func (g *infoGate) open() { g.once.Do(func() { close(g.release) }) }

func (g *infoGate) addr() string { return g.ln.Addr().String() }

// TestReplicaReadingPerMaster: the replica count is read per master. While
// one master is slow to answer INFO, a Put to another master whose reading
// is fresh does not wait for it, and the Puts to the slow master share one
// INFO rather than each sending its own. Before, one mutex was held across
// every INFO round trip, so on a cluster one slow master stalled Puts to
// every master.
func TestReplicaReadingPerMaster(t *testing.T) {
	slowSrv, fastSrv := testredis.StartTCP(t), testredis.StartTCP(t)
	gate := startInfoGate(t, slowSrv.Addr())
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(fastSrv.URL()), Prefix: "masters"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	slow := redis.NewClient(&redis.Options{Addr: gate.addr(), ReadTimeout: time.Minute})
	fast := redis.NewClient(&redis.Options{Addr: fastSrv.Addr()})
	defer slow.Close()
	defer fast.Close()
	ctx := context.Background()

	if _, err := s.needReplica(ctx, fast, replicaMemory); err != nil { // a fresh reading of the fast master
		t.Fatalf("fast master: %v", err)
	}

	// Several Puts to the slow master wait on its INFO.
	const slowPuts = 4
	slowDone := make(chan error, slowPuts)
	for range slowPuts {
		go func() {
			_, err := s.needReplica(ctx, slow, replicaMemory)
			slowDone <- err
		}()
	}
	select {
	case <-gate.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no INFO reached the slow master")
	}

	fastDone := make(chan error, 1)
	go func() {
		_, err := s.needReplica(ctx, fast, replicaMemory)
		fastDone <- err
	}()
	select {
	case err := <-fastDone:
		if err != nil {
			t.Errorf("fast master: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a Put to a master with a fresh reading waited on another master's INFO")
	}

	gate.open()
	for range slowPuts {
		if err := <-slowDone; err != nil {
			t.Errorf("slow master: %v", err)
		}
	}
	if n := gate.infos.Load(); n != 1 {
		t.Errorf("%d Puts at once sent %d INFO to the slow master, want 1", slowPuts, n)
	}
}
