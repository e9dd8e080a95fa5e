package testredis

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/redisproc"
)

// TestStartTLS: the server answers over TLS to a client trusting its CA,
// refuses the handshake of one trusting only the system roots and a
// plain client, serves the helpers on its socket, and comes back over TLS
// after a restart.
func TestStartTLS(t *testing.T) {
	s := StartTLS(t)
	if !strings.HasPrefix(s.URL(), "rediss://127.0.0.1:") {
		t.Errorf("URL = %q, want rediss://127.0.0.1:PORT", s.URL())
	}
	if err := s.TLSProc().PingTLS(); err != nil {
		t.Fatalf("PING over TLS trusting the test CA: %v", err)
	}
	// A plain RESP client on the TLS port gets no PONG.
	if err := redisproc.PingAddr(s.Addr()); err == nil {
		t.Error("plain PING on the TLS port succeeded, want a failure")
	}
	c, err := tls.Dial("tcp", s.Addr(), &tls.Config{MinVersion: tls.VersionTLS12})
	if err == nil {
		c.Close()
		t.Error("TLS handshake trusting only the system roots succeeded, want an unknown authority")
	}
	// The helpers still work, over the socket.
	if info := s.Info("server"); !strings.Contains(info, "redis_version:") {
		t.Errorf("INFO server over the socket: got %q", info)
	}

	s.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for err := s.TLSProc().PingTLS(); err != nil; err = s.TLSProc().PingTLS() {
		if time.Now().After(deadline) {
			t.Fatalf("PING over TLS after Restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
