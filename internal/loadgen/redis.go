package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Redis is a redis-server this process started for one bench run, on a
// unix socket in a directory of its own, with the persistence an operator
// would run a gateway with (appendonly, fsync every second).
type Redis struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	done   chan error
}

// StartRedis runs redis-server from PATH with its socket, data and log in
// dir, and waits until it answers PING.
func StartRedis(dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found on PATH: apt-get install -y redis-server (or make deps)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	r := &Redis{dir: dir, socket: filepath.Join(dir, "redis.sock"), done: make(chan error, 1)}
	r.cmd = exec.Command(bin,
		"--port", "0",
		"--unixsocket", r.socket,
		"--unixsocketperm", "700",
		"--dir", dir,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "everysec",
		"--daemonize", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
	)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pingRedis(r.socket) == nil {
			return r, nil
		}
		select {
		case err := <-r.done:
			return nil, fmt.Errorf("redis-server exited early (%v); log: %s", err, r.logTail())
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.Stop()
	return nil, fmt.Errorf("redis-server did not answer within 10s; log: %s", r.logTail())
}

// URL is the server's address as a go-redis URL.
func (r *Redis) URL() string { return "unix://" + r.socket }

// Stop asks the server to exit (SIGTERM) and waits for it, killing it
// after five seconds.
func (r *Redis) Stop() {
	if r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd.Process = nil
}

func (r *Redis) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func pingRedis(socket string) error {
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
