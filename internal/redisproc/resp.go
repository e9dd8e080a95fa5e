package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ReplyError is an error reply from Redis (-ERR …, -MOVED …).
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

// Do sends one command to the Redis at addr (network "tcp" or "unix") on a
// connection of its own and returns the reply: a status, bulk string or
// integer as text ("" for a null bulk string), an error reply as a
// ReplyError. Array replies are not supported. The whole exchange is
// bounded to two seconds, so a paused server gives a timeout error.
//
// It is the tests' and helpers' way to ask a server something (INFO,
// CLUSTER NODES) without a client library.
func Do(network, addr string, args ...string) (string, error) {
	replies, err := Pipeline(network, addr, args)
	if err != nil {
		return "", err
	}
	return replies[0], nil
}

// Pipeline sends the commands on one connection, in order, and returns
// their replies as Do does; it stops at the first error reply, returning
// the replies before it. One connection matters where a command depends
// on the client's earlier ones: WAIT counts the replicas that acknowledged
// this connection's writes.
func Pipeline(network, addr string, cmds ...[]string) ([]string, error) {
	replies := make([]string, 0, len(cmds))
	err := roundTrip(network, addr, cmds, func(r *bufio.Reader) error {
		for range cmds {
			reply, err := readReply(r)
			if err != nil {
				return err
			}
			replies = append(replies, reply)
		}
		return nil
	})
	return replies, err
}

// roundTrip sends cmds on a connection of its own, bounded to two seconds,
// and lets read take the replies.
func roundTrip(network, addr string, cmds [][]string, read func(*bufio.Reader) error) error {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return exchange(c, cmds, read)
}

// exchange writes cmds to c, as RESP arrays of bulk strings in one write,
// and lets read take the replies, within two seconds.
func exchange(c net.Conn, cmds [][]string, read func(*bufio.Reader) error) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return err
	}
	return read(bufio.NewReader(c))
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", ReplyError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unsupported reply %q", line)
	}
}

// Ping sends PING to the server on the unix socket and checks for PONG.
func Ping(socket string) error { return ping("unix", socket) }

// PingAddr sends PING to the server at a TCP address and checks for PONG.
func PingAddr(addr string) error { return ping("tcp", addr) }

func ping(network, addr string) error {
	reply, err := Do(network, addr, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("redis answered %q", reply)
	}
	return nil
}

// InfoField returns the value of field in the text of an INFO or CLUSTER
// INFO reply ("connected_slaves", "cluster_state"), and whether it is there.
func InfoField(info, field string) (string, bool) {
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		if ok && k == field {
			return v, true
		}
	}
	return "", false
}
