// Package redisproc runs a redis-server process of our own, on a unix
// socket in a directory of its own, for the tests (internal/testredis) and
// the benchmark (internal/loadgen). No TCP port is opened, so runs never
// collide.
package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one redis-server process with append-only persistence.
type Server struct {
	dir, socket, fsync string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// Start runs redis-server from PATH with its socket, data and log in dir
// and appendfsync set to fsync ("always", "everysec"), and waits (at most
// 10s) until it answers PING.
func Start(dir, fsync string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	s := &Server{dir: dir, socket: filepath.Join(dir, "redis.sock"), fsync: fsync}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's address as a go-redis URL: unix:///…/redis.sock.
func (s *Server) URL() string { return "unix://" + s.socket }

// Socket is the path of the server's unix socket.
func (s *Server) Socket() string { return s.socket }

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
// What was written with appendfsync always survives; Restart brings it back.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Stop asks the server to exit (SIGTERM) and waits for it, killing it after
// five seconds.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Restart kills the server and starts it again on the same socket and data.
func (s *Server) Restart() error {
	s.Kill()
	return s.start()
}

func (s *Server) start() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("redis-server not found on PATH: run `make deps`, or apt-get install -y redis-server")
	}
	s.mu.Lock()
	cmd := exec.Command(bin,
		"--port", "0",
		"--unixsocket", s.socket,
		"--unixsocketperm", "700",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", s.fsync,
		"--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	)
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if Ping(s.socket) == nil {
			return nil
		}
		select {
		case err := <-done:
			done <- err // for stop
			return fmt.Errorf("redis-server exited early (%v); its log ends:\n%s", err, s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.Kill()
	return fmt.Errorf("redis-server did not answer on %s within 10s; its log ends:\n%s", s.socket, s.logTail())
}

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	os.Remove(s.socket)
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Ping sends PING to the server on socket and checks for +PONG.
func Ping(socket string) error {
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
		return fmt.Errorf("redis answered %q", line)
	}
	return nil
}
