package redisproc

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Sentinel is a redis-server running as a Redis Sentinel on a free
// loopback TCP port. Server's methods work on it (Addr, Do, Kill, Pause…)
// except Restart, which Sentinel redefines: the process must come back
// in sentinel mode.
type Sentinel struct {
	*Server
	conf string // the config file, which the sentinel rewrites with its state
}

// StartSentinel runs `redis-server <dir>/sentinel.conf --sentinel` from PATH
// on a free loopback TCP port, with its log in dir, and waits until it
// answers. The config file holds conf, one directive a line (such as
// "sentinel monitor main 127.0.0.1 6379 1"); it lives in dir because a
// sentinel needs to rewrite it.
func StartSentinel(dir string, conf ...string) (*Sentinel, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sentinel dir: %w", err)
	}
	return onFreePort("the sentinel", func(port int) (*Sentinel, error) {
		s := &Sentinel{Server: &Server{dir: dir, port: port}, conf: filepath.Join(dir, "sentinel.conf")}
		// Written afresh for every port tried: a sentinel that lost the
		// race for its port may have rewritten the file already.
		if err := os.WriteFile(s.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("sentinel config: %w", err)
		}
		return s, s.start()
	})
}

// Restart kills the sentinel and starts it again on the same port with
// the config file as it rewrote it: what it knew of the masters, replicas
// and epochs, as after a crash.
func (s *Sentinel) Restart() error {
	s.Kill()
	return s.start()
}

// start runs the sentinel process as Server.start runs a server, and
// waits (at most 10s) until it answers INFO with its own process id.
func (s *Sentinel) start() error {
	// The config file must come first: redis-server takes only its first
	// argument as one.
	return s.launch("sentinel", []string{s.conf, "--sentinel",
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", s.LogFile(),
	})
}

// MasterAddr is the sentinel's answer to SENTINEL GET-MASTER-ADDR-BY-NAME:
// where clients are sent for the master called name, as 127.0.0.1:PORT.
func (s *Sentinel) MasterAddr(name string) (string, error) {
	v, err := doArray("tcp", s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return "", err
	}
	if len(v) != 2 {
		return "", fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME %s: %d items, want host and port", name, len(v))
	}
	host, _ := v[0].(string)
	port, _ := v[1].(string)
	return net.JoinHostPort(host, port), nil
}

// Master is the sentinel's view of the master called name (SENTINEL
// MASTER): its fields, such as "flags" ("master", or with "s_down",
// "failover_in_progress"…) and "num-slaves".
func (s *Sentinel) Master(name string) (map[string]string, error) {
	v, err := doArray("tcp", s.Addr(), "SENTINEL", "MASTER", name)
	if err != nil {
		return nil, err
	}
	return fieldMap(v)
}

// Replicas is the sentinel's view of the replicas of the master called
// name (SENTINEL REPLICAS): the fields of each, such as "name"
// (127.0.0.1:PORT), "flags", "master-link-status", "master-port".
func (s *Sentinel) Replicas(name string) ([]map[string]string, error) {
	v, err := doArray("tcp", s.Addr(), "SENTINEL", "REPLICAS", name)
	if err != nil {
		return nil, err
	}
	replicas := make([]map[string]string, len(v))
	for i, r := range v {
		fields, ok := r.([]any)
		if !ok {
			return nil, fmt.Errorf("SENTINEL REPLICAS %s: item %d is %T, want an array", name, i, r)
		}
		if replicas[i], err = fieldMap(fields); err != nil {
			return nil, err
		}
	}
	return replicas, nil
}

// fieldMap turns the flat name, value, name, value… array of a SENTINEL
// reply into a map.
func fieldMap(v []any) (map[string]string, error) {
	if len(v)%2 != 0 {
		return nil, fmt.Errorf("%d items, want name and value pairs", len(v))
	}
	m := make(map[string]string, len(v)/2)
	for i := 0; i < len(v); i += 2 {
		k, ok1 := v[i].(string)
		val, ok2 := v[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("field %d: %T %T, want strings", i/2, v[i], v[i+1])
		}
		m[k] = val
	}
	return m, nil
}

// doArray sends one command whose reply is an array (SENTINEL's are), on
// a connection of its own bounded to two seconds as Do's is, and returns
// it: nested arrays as []any, everything else as Do returns it.
func doArray(network, addr string, args ...string) ([]any, error) {
	var v any
	err := roundTrip(network, addr, [][]string{args}, func(r *bufio.Reader) (err error) {
		v, err = readValue(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: reply %q, want an array", strings.Join(args, " "), v)
	}
	return arr, nil
}

// readValue reads one reply as readReply does, arrays included; a null
// array is an empty one.
func readValue(r *bufio.Reader) (any, error) {
	first, err := r.Peek(1)
	if err != nil {
		return nil, err
	}
	if first[0] != '*' {
		return readReply(r)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line[1:], "\r\n"))
	if err != nil {
		return nil, fmt.Errorf("bad array length %q", line)
	}
	items := make([]any, 0, max(n, 0))
	for range n {
		v, err := readValue(r)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, nil
}
