package e2e

import (
	"crypto/tls"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testpki"
)

// serveTLS gives the world's public listeners a certificate for 127.0.0.1
// from a fresh CA (server.tls), and its gateways a client that trusts it.
func (w *world) serveTLS() {
	w.t.Helper()
	w.ca = testpki.NewCA(w.t, "hookgate e2e CA")
	certFile, keyFile := w.ca.ServerNamed(w.t, "hookgate e2e").Write(w.t, w.dir, "server")
	w.server["tls"] = map[string]any{"cert_file": certFile, "key_file": keyFile}
	w.tlsClient = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool(), MinVersion: tls.VersionTLS12}},
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

// renewCert writes a new certificate for 127.0.0.1, named cn and signed by
// the world's CA, over the world's TLS files the way renewal tools do:
// beside them, then renamed into place.
func (w *world) renewCert(cn string) {
	w.t.Helper()
	p := w.ca.ServerNamed(w.t, cn)
	files := w.server["tls"].(map[string]any)
	testpki.WriteFile(w.t, files["key_file"].(string), p.KeyPEM)
	testpki.WriteFile(w.t, files["cert_file"].(string), p.CertPEM)
}

// servedCN is the common name of the certificate the listener presents to
// a new connection.
func servedCN(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // only the name is read
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// A certificate renewed on disk is served to the next connections without
// a restart; a connection made before keeps working.
func TestTLSRenewal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.serveTLS()
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()
	if cn := servedCN(t, g.listen); cn != "hookgate e2e" {
		t.Fatalf("served %q at start, want the first certificate", cn)
	}
	old, err := tls.Dial("tcp", g.listen, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	w.renewCert("hookgate e2e renewed")
	waitFor(t, 30*time.Second, "the renewed certificate served", func() (bool, string) {
		cn := servedCN(t, g.listen)
		return cn == "hookgate e2e renewed", "served " + cn
	})
	// The connection from before the renewal still carries requests.
	if _, err := old.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatalf("write on the connection from before the renewal: %v", err)
	}
	buf := make([]byte, 12)
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := old.Read(buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Errorf("the connection from before the renewal answered %q (%v), want HTTP/1.1 200", buf, err)
	}
	// A half-written renewal (a key that does not match) is not served.
	tlsFiles := w.server["tls"].(map[string]any)
	if err := os.WriteFile(tlsFiles["key_file"].(string), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past one look at the files; not an assertion on time
	if cn := servedCN(t, g.listen); cn != "hookgate e2e renewed" {
		t.Errorf("with a broken key file on disk, served %q, want the last good certificate", cn)
	}
	// The line reaches the test through the child's stderr pipe, in its
	// own time.
	waitFor(t, 10*time.Second, "the broken renewal logged", func() (bool, string) {
		return strings.Contains(g.output(), "do not load"), "not in the log yet"
	})
}
