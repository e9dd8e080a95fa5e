package routes

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// A client address past its share of connections is answered 503 and
// closed as it is accepted; other addresses are not, and a closed
// connection gives its place back.
func TestConnLimiter(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(func() int { return 2 })
	ln := limitListener{Listener: raw, l: l}
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for range 2 {
		dial("127.0.0.2")
		held = append(held, <-accepted)
	}
	over := dial("127.0.0.2")
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection from one address: %v %v, want 503 with Retry-After", resp, err)
	}
	dial("127.0.0.3")
	<-accepted
	if got := l.Open(); got != 3 {
		t.Errorf("open = %d, want 3", got)
	}
	if got := l.Refused(); got != 1 {
		t.Errorf("refused = %d, want 1", got)
	}
	held[0].Close()
	held[0].Close() // twice: one place back
	dial("127.0.0.2")
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("a connection from an address that closed one was not accepted")
	}
	if got := l.Open(); got != 3 {
		t.Errorf("open after one closed and one came = %d, want 3", got)
	}
}

// clientOf keys IPv4 by address and IPv6 by its /64.
func TestClientOf(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
	} {
		if clientOf(net.ParseIP(tt.a)) != clientOf(net.ParseIP(tt.b)) {
			t.Errorf("clientOf(%s) != clientOf(%s), want one client", tt.a, tt.b)
		}
	}
	if clientOf(net.ParseIP("10.0.0.1")) == clientOf(net.ParseIP("10.0.0.2")) ||
		clientOf(net.ParseIP("2001:db8:1:2::1")) == clientOf(net.ParseIP("2001:db8:1:3::1")) {
		t.Error("distinct clients share a key")
	}
}
