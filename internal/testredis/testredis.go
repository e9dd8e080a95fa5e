// Package testredis starts real redis-servers for tests and stops them when
// the test ends: one server on a unix socket (Start), a master with a
// replica on loopback TCP (StartReplicated), the same watched by a
// Sentinel (StartSentinel), one serving TLS (StartTLS), or a six-node
// Redis Cluster (StartCluster).
//
// There is no fake and no skip: a test that needs Redis gets the real
// server, or fails saying how to install it (`make test` installs it).
package testredis

import (
	"os"
	"testing"

	"github.com/hookgate/hookgate/internal/redisproc"
)

// Server is one running redis-server.
type Server struct {
	tb  testing.TB
	srv *redisproc.Server
}

// Start runs a redis-server for tb on a unix socket, with append-only
// persistence fsynced on every write and args appended to its command line
// (the fault tests enable DEBUG with "--enable-debug-command", "local"),
// and registers its shutdown with tb.Cleanup.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	dir := tempDir(tb)
	srv, err := redisproc.Start(dir, "always", args...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Kill)
	return &Server{tb: tb, srv: srv}
}

// StartTCP runs a redis-server for tb on a free loopback TCP port, with
// args appended to its command line and append-only persistence fsynced
// every second, and registers its shutdown with tb.Cleanup.
func StartTCP(tb testing.TB, args ...string) *Server {
	tb.Helper()
	srv, err := redisproc.StartTCP(tempDir(tb), "everysec", args...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Kill)
	return &Server{tb: tb, srv: srv}
}

// tempDir is a fresh directory removed after the test. Unix socket paths
// are limited to ~104 bytes and t.TempDir() can be long, so it is short.
func tempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "hgredis")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// URL is the server's address as a go-redis URL: unix:///…/redis.sock, or
// redis://127.0.0.1:PORT on TCP.
func (s *Server) URL() string { return s.srv.URL() }

// Socket is the path of the server's unix socket; empty on TCP.
func (s *Server) Socket() string { return s.srv.Socket() }

// Addr is the server's TCP address, 127.0.0.1:PORT; empty on a unix socket.
func (s *Server) Addr() string { return s.srv.Addr() }

// Proc is the underlying process, for what this package does not wrap.
func (s *Server) Proc() *redisproc.Server { return s.srv }

// Stop stops the server (SIGKILL, as a crash would) and waits for it. The
// data written survives; Restart brings it back.
func (s *Server) Stop() { s.srv.Kill() }

// Kill is Stop: SIGKILL, as a crash would.
func (s *Server) Kill() { s.srv.Kill() }

// Restart starts the server again on the same socket or port, with the
// same data directory.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.srv.Restart(); err != nil {
		s.tb.Fatal(err)
	}
}

// Pause freezes the server (SIGSTOP): it keeps its connections but answers
// nothing until Continue. A paused server is still killed at cleanup.
func (s *Server) Pause() {
	s.tb.Helper()
	if err := s.srv.Pause(); err != nil {
		s.tb.Fatalf("pause redis-server: %v", err)
	}
}

// Continue resumes a server frozen by Pause (SIGCONT).
func (s *Server) Continue() {
	s.tb.Helper()
	if err := s.srv.Continue(); err != nil {
		s.tb.Fatalf("continue redis-server: %v", err)
	}
}

// Info returns the server's INFO section (such as "replication") as text,
// failing the test if the server does not answer.
func (s *Server) Info(section string) string {
	s.tb.Helper()
	info, err := s.srv.Do("INFO", section)
	if err != nil {
		s.tb.Fatalf("INFO %s on %s: %v", section, s.srv.URL(), err)
	}
	return info
}
