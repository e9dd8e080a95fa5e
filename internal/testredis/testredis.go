// Package testredis starts a real redis-server for tests, on a unix socket
// in a temporary directory, and stops it when the test ends.
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

// Start runs a redis-server for tb, with append-only persistence fsynced on
// every write, and registers its shutdown with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	// Unix socket paths are limited to ~104 bytes; t.TempDir() can be long.
	dir, err := os.MkdirTemp("", "hgredis")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	srv, err := redisproc.Start(dir, "always")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Kill)
	return &Server{tb: tb, srv: srv}
}

// URL is the server's address as a go-redis URL: unix:///…/redis.sock.
func (s *Server) URL() string { return s.srv.URL() }

// Socket is the path of the server's unix socket.
func (s *Server) Socket() string { return s.srv.Socket() }

// Stop stops the server (SIGKILL, as a crash would) and waits for it. The
// data written survives; Restart brings it back.
func (s *Server) Stop() { s.srv.Kill() }

// Restart starts the server again on the same socket and data directory.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.srv.Restart(); err != nil {
		s.tb.Fatal(err)
	}
}
