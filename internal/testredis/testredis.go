// Package testredis starts a real redis-server for tests, on a unix socket
// in the test's temporary directory, and stops it when the test ends.
//
// There is no fake and no skip: a test that needs Redis gets the real
// server, or fails saying how to install it (`make test` installs it).
package testredis

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one running redis-server.
type Server struct {
	tb     testing.TB
	dir    string
	socket string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start runs a redis-server for tb, with append-only persistence in a
// temporary directory, and registers its shutdown with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Fatal("redis-server not found on PATH: run `make test`, or apt-get install -y redis-server")
	}
	// Unix socket paths are limited to ~104 bytes; t.TempDir() can be long.
	dir, err := os.MkdirTemp("", "hgredis")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, dir: dir, socket: filepath.Join(dir, "redis.sock")}
	tb.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	s.start()
	return s
}

// URL is the server's address as a go-redis URL: unix:///…/redis.sock.
func (s *Server) URL() string { return "unix://" + s.socket }

// Socket is the path of the server's unix socket.
func (s *Server) Socket() string { return s.socket }

// Stop stops the server (SIGKILL, as a crash would) and waits for it. The
// data written with appendfsync always survives; Restart brings it back.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
	os.Remove(s.socket)
}

// Restart starts the server again on the same socket and data directory.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

func (s *Server) start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command("redis-server",
		"--port", "0",
		"--unixsocket", s.socket,
		"--unixsocketperm", "700",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.socket) == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	s.tb.Fatalf("redis-server did not answer on %s within 10s; its log:\n%s", s.socket, log)
}

func ping(socket string) error {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}
