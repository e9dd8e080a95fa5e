package redisproc

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// TLSFiles names the PEM files of a TLS redis-server: its certificate and
// key, and the CA redis-server insists on being given even when it asks
// clients for no certificate.
type TLSFiles struct {
	Cert, Key, CA string
}

// TLSServer is a redis-server whose only network listener is TLS on a
// loopback port. It also keeps the unix socket of Start: Do, Pipeline,
// Ping and the readiness check of Server speak plain RESP, and over the
// socket they need no TLS of their own. Clients under test use URL.
type TLSServer struct {
	*Server
	tlsPort int
	ca      string
}

// StartTLS runs redis-server from PATH as Start does (socket, data and log
// in dir, appendfsync set to fsync), plus a TLS listener on a free
// loopback port serving files.Cert, with args appended to its command
// line. Clients are not asked for certificates (tls-auth-clients no), as
// hookgate has none to give. It returns once the server answers PING on
// its socket and over TLS, verified against files.CA for 127.0.0.1, so
// that a certificate a client would refuse fails here, not in the test.
//
// A password (requirepass) must be set after start, with CONFIG SET over
// the socket: the readiness check does not authenticate.
func StartTLS(dir, fsync string, files TLSFiles, args ...string) (*TLSServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	return onFreePort("redis-server", func(port int) (*TLSServer, error) {
		s := &Server{
			dir: dir, socket: filepath.Join(dir, "redis.sock"), fsync: fsync,
			args: append([]string{
				"--bind", "127.0.0.1",
				"--tls-port", strconv.Itoa(port),
				"--tls-cert-file", files.Cert,
				"--tls-key-file", files.Key,
				"--tls-ca-cert-file", files.CA,
				"--tls-auth-clients", "no",
			}, args...),
		}
		if err := s.start(); err != nil {
			return nil, err
		}
		ts := &TLSServer{Server: s, tlsPort: port, ca: files.CA}
		if err := ts.PingTLS(); err != nil {
			s.Kill()
			return nil, fmt.Errorf("redis-server answers on its socket but not over TLS on %s: %w", ts.Addr(), err)
		}
		return ts, nil
	})
}

// URL is the server's TLS address as a go-redis URL, rediss://127.0.0.1:PORT.
func (s *TLSServer) URL() string { return "rediss://" + s.Addr() }

// Addr is the TLS listener's address, 127.0.0.1:PORT.
func (s *TLSServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.tlsPort) }

// Port is the TLS listener's port.
func (s *TLSServer) Port() int { return s.tlsPort }

// PingTLS sends PING over a TLS connection that trusts only the server's
// CA and checks for PONG: proof that a client verifying the certificate
// gets through, which Ping, on the socket, is not. It does not
// authenticate, so it fails once a password is set.
func (s *TLSServer) PingTLS() error {
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in CA file %s", s.ca)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", s.Addr(), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	defer c.Close()
	var reply string
	err = exchange(c, [][]string{{"PING"}}, func(r *bufio.Reader) (err error) {
		reply, err = readReply(r)
		return err
	})
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("redis answered %q", reply)
	}
	return nil
}
