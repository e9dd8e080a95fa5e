// Package testnats starts a real nats-server with JetStream for tests, on
// its own loopback port and storage directory, and stops it when the test
// ends.
//
// There is no fake and no skip, as with testredis: a test that needs NATS
// gets the real server, or fails saying how to install it
// (scripts/deps.sh, which `make test` runs, installs it).
package testnats

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is one running nats-server.
type Server struct {
	tb   testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

// Start runs nats-server -js on a free loopback port with its JetStream
// store in a temporary directory, and registers its shutdown with
// tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("nats-server"); err != nil {
		tb.Fatal("nats-server not found in PATH: install it with scripts/deps.sh (apt-get install nats-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{tb: tb, port: port, dir: tb.TempDir()}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

// URL is the server's nats:// URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Stop kills the server (SIGKILL, as a crash would) and waits for it. Its
// JetStream store survives; Restart brings it back on the same port.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again after Stop, on the same port and store.
func (s *Server) Restart() {
	s.tb.Helper()
	s.start()
}

func (s *Server) start() {
	s.tb.Helper()
	cmd := exec.Command("nats-server", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", s.dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if !testing.Verbose() {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start nats-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.URL()[len("nats://"):], time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.tb.Fatalf("nats-server did not listen on port %d: %v", s.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
