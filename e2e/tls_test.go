package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serveTLS gives the world's public listeners a fresh self-signed
// certificate for 127.0.0.1 (server.tls), and its gateways a client that
// trusts it.
func (w *world) serveTLS() {
	w.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hookgate e2e"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		w.t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		w.t.Fatal(err)
	}
	certFile := filepath.Join(w.dir, "cert.pem")
	keyFile := filepath.Join(w.dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.server["tls"] = map[string]any{"cert_file": certFile, "key_file": keyFile}

	cert, err := x509.ParseCertificate(der)
	if err != nil {
		w.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	w.tlsClient = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// With server.tls set, the public listener serves HTTPS only, and signed
// events come through it as over HTTP.
func TestTLSListener(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.serveTLS()
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start() // ready means /readyz answered over HTTPS

	g.mustAccept(product("TLS1", 600))
	r.waitN(t, 1, 30*time.Second)
	if _, ok := r.find("iimmpact.product.updated", "product/TLS1"); !ok {
		t.Errorf("the event sent over HTTPS was not delivered: %v", r.all())
	}

	// Plain HTTP to the TLS listener gets no 200.
	resp, err := upstream.Get("http://" + g.listen + "/readyz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS listener: got 200, want a refusal")
		}
	}
}
