package testredis

import (
	"path/filepath"
	"testing"

	"github.com/hookgate/hookgate/internal/redisproc"
	"github.com/hookgate/hookgate/internal/testpki"
)

// TLSServer is a redis-server that serves TLS on a loopback port, with a
// certificate from a CA made for the test alone: no system trusts it, so
// a client gets through only if it was told to trust CAFile.
type TLSServer struct {
	*Server
	tls    *redisproc.TLSServer
	caFile string
}

// StartTLS makes a CA and a certificate signed by it for 127.0.0.1 and
// localhost, runs a redis-server for tb that serves it on a free loopback
// TLS port (and on a unix socket for the helpers, see redisproc.StartTLS),
// with args appended to its command line and append-only persistence
// fsynced every second, and registers its shutdown with tb.Cleanup.
func StartTLS(tb testing.TB, args ...string) *TLSServer {
	tb.Helper()
	dir := tempDir(tb)
	files := writeTestPKI(tb, dir)
	srv, err := redisproc.StartTLS(dir, "everysec", files, args...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Kill)
	return &TLSServer{Server: &Server{tb: tb, srv: srv.Server}, tls: srv, caFile: files.CA}
}

// URL is the server's TLS address as a go-redis URL, rediss://127.0.0.1:PORT.
func (s *TLSServer) URL() string { return s.tls.URL() }

// Addr is the TLS listener's address, 127.0.0.1:PORT.
func (s *TLSServer) Addr() string { return s.tls.Addr() }

// CAFile is the PEM file of the CA that signed the server's certificate:
// what a client must trust (for hookgate, SSL_CERT_FILE).
func (s *TLSServer) CAFile() string { return s.caFile }

// TLSProc is the underlying process with its TLS listener, for what this
// package does not wrap (PingTLS).
func (s *TLSServer) TLSProc() *redisproc.TLSServer { return s.tls }

// writeTestPKI writes into dir a fresh CA (ca.crt) and a server
// certificate it signed for 127.0.0.1 and localhost (server.crt,
// server.key), as an operator's private CA would issue. A CA separate from
// the leaf matters: trusting the leaf alone is not what SSL_CERT_FILE is
// given in practice.
func writeTestPKI(tb testing.TB, dir string) redisproc.TLSFiles {
	tb.Helper()
	ca := testpki.NewCA(tb, "hookgate test redis CA")
	cert, key := ca.Server(tb).Write(tb, dir, "server")
	caFile := filepath.Join(dir, "ca.crt")
	testpki.WriteFile(tb, caFile, ca.PEM)
	return redisproc.TLSFiles{CA: caFile, Cert: cert, Key: key}
}
