package testredis

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/redisproc"
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
	now := time.Now()
	caKey := newKey(tb)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hookgate test redis CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("create test CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}

	srvKey := newKey(tb)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "hookgate test redis"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("create test server certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		tb.Fatal(err)
	}

	files := redisproc.TLSFiles{
		CA:   filepath.Join(dir, "ca.crt"),
		Cert: filepath.Join(dir, "server.crt"),
		Key:  filepath.Join(dir, "server.key"),
	}
	for path, block := range map[string]*pem.Block{
		files.CA:   {Type: "CERTIFICATE", Bytes: caDER},
		files.Cert: {Type: "CERTIFICATE", Bytes: srvDER},
		files.Key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return files
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}
