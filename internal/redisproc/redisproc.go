// Package redisproc runs a redis-server process of our own, for the tests
// (internal/testredis) and the benchmark (internal/loadgen). Start listens
// on a unix socket in a directory of its own and opens no TCP port, so runs
// never collide; StartTCP listens on a free loopback port instead, for what
// needs TCP (replication, Redis Cluster); StartTLS adds a TLS listener, and
// StartSentinel runs a sentinel.
package redisproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one redis-server process with append-only persistence.
type Server struct {
	dir, fsync string
	socket     string   // unix socket path; empty on TCP
	port       int      // loopback TCP port; 0 on a unix socket
	args       []string // extra arguments, after ours

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// Start runs redis-server from PATH with its socket, data and log in dir,
// appendfsync set to fsync ("always", "everysec") and args appended to its
// command line (such as "--enable-debug-command", "local"), and waits (at
// most 10s) until it answers PING.
func Start(dir, fsync string, args ...string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	s := &Server{dir: dir, socket: filepath.Join(dir, "redis.sock"), fsync: fsync, args: args}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's address as a go-redis URL: unix:///…/redis.sock, or
// redis://127.0.0.1:PORT for a server started with StartTCP.
func (s *Server) URL() string {
	if s.port != 0 {
		return "redis://" + s.Addr()
	}
	return "unix://" + s.socket
}

// Socket is the path of the server's unix socket; empty on TCP.
func (s *Server) Socket() string { return s.socket }

// Addr is the server's TCP address, 127.0.0.1:PORT; empty on a unix socket.
func (s *Server) Addr() string {
	if s.port == 0 {
		return ""
	}
	return "127.0.0.1:" + strconv.Itoa(s.port)
}

// Port is the server's TCP port; 0 on a unix socket.
func (s *Server) Port() int { return s.port }

// Dir is the directory holding the server's data and log.
func (s *Server) Dir() string { return s.dir }

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
// What was written with appendfsync always survives; Restart brings it back.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Stop asks the server to exit (SIGTERM) and waits for it, killing it after
// five seconds.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Restart kills the server and starts it again on the same socket or port,
// with the same data and arguments.
func (s *Server) Restart() error {
	s.Kill()
	return s.start()
}

// Pause freezes the server with SIGSTOP, as a hung or partitioned node
// would be: connections stay open but nothing is answered. Continue
// resumes it.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Continue resumes a server frozen by Pause (SIGCONT).
func (s *Server) Continue() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redis-server is not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Ping sends PING to the server and checks for PONG.
func (s *Server) Ping() error {
	if s.port != 0 {
		return ping("tcp", s.Addr())
	}
	return ping("unix", s.socket)
}

// Do sends one command to the server on a connection of its own and
// returns the reply, as the package-level Do does.
func (s *Server) Do(args ...string) (string, error) {
	if s.port != 0 {
		return Do("tcp", s.Addr(), args...)
	}
	return Do("unix", s.socket, args...)
}

// Pipeline sends the commands to the server on one connection, as the
// package-level Pipeline does.
func (s *Server) Pipeline(cmds ...[]string) ([]string, error) {
	if s.port != 0 {
		return Pipeline("tcp", s.Addr(), cmds...)
	}
	return Pipeline("unix", s.socket, cmds...)
}

// errAddrInUse: the server could not bind its port (another process took
// it between our probe and the server's bind).
var errAddrInUse = errors.New("address already in use")

func (s *Server) start() error {
	args := []string{"--dir", s.dir}
	if s.port != 0 {
		args = append(args, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1")
	} else {
		args = append(args, "--port", "0", "--unixsocket", s.socket, "--unixsocketperm", "700")
	}
	args = append(args,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", s.fsync,
		"--daemonize", "no",
		"--logfile", s.LogFile(),
	)
	return s.launch("redis-server", append(args, s.args...))
}

// LogFile is where the process logs, in its directory (a restart appends).
func (s *Server) LogFile() string { return filepath.Join(s.dir, "redis.log") }

// launch runs redis-server from PATH with args, its early output (a bad
// option, before its log is open) appended to its log, and waits (at most
// 10s) until the process answering on s's socket or port is this one, with
// its data loaded.
// what names it in errors.
func (s *Server) launch(what string, args []string) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("redis-server not found on PATH: run `make deps`, or apt-get install -y redis-server")
	}
	var logStart int64
	if fi, err := os.Stat(s.LogFile()); err == nil {
		logStart = fi.Size()
	}
	out, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s log: %w", what, err)
	}
	defer out.Close() // the child has its own copy
	s.mu.Lock()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.isOurs(cmd.Process.Pid) {
			return nil
		}
		select {
		case err := <-done:
			done <- err // for stop
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			log := s.logSince(logStart)
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("%s on port %d: %w", what, s.port, errAddrInUse)
			}
			return fmt.Errorf("%s exited early (%v); its log ends:\n%s", what, err, tail(log))
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.Kill()
	where := s.socket
	if s.port != 0 {
		where = s.Addr()
	}
	return fmt.Errorf("%s did not answer on %s within 10s; its log ends:\n%s", what, where, tail(s.logSince(logStart)))
}

// isOurs reports whether the server answering on our socket or port is the
// process pid, done loading its data: on TCP, another test's server may
// have won a race for the port, and ours then exits while theirs answers;
// and a restarted server answers INFO and PING while it still loads its
// AOF, but refuses everything else (LOADING).
func (s *Server) isOurs(pid int) bool {
	info, err := s.Do("INFO", "server", "persistence")
	if err != nil {
		return false
	}
	got, _ := InfoField(info, "process_id")
	loading, _ := InfoField(info, "loading") // a sentinel has none
	return got == strconv.Itoa(pid) && loading != "1"
}

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	if sig != syscall.SIGKILL {
		s.cmd.Process.Signal(syscall.SIGCONT) // a paused server must run to exit
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	if s.socket != "" {
		os.Remove(s.socket)
	}
}

// logSince is the server's log from byte offset off: what this run wrote.
func (s *Server) logSince(off int64) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:])
}

func tail(log string) string {
	if len(log) > 2000 {
		log = log[len(log)-2000:]
	}
	return log
}
