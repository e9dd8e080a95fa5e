package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/redisproc"
	"github.com/hookgate/hookgate/internal/testredis"
)

// tlsRedisWorld is a world whose store is a redis-server reached only over
// TLS, with a certificate from a CA of the test's own, and a password
// (requirepass) that the URL carries, as an operator of a managed or
// private Redis writes it: rediss://:PASSWORD@host:port/0. It returns the
// server and the password.
func tlsRedisWorld(t *testing.T) (*world, *testredis.TLSServer, string) {
	t.Helper()
	srv := testredis.StartTLS(t)
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	// Recognizable in a log, and not a word a log would print otherwise.
	password := "pw" + hex.EncodeToString(b)
	// Set after start: the helpers' readiness check does not authenticate.
	if _, err := srv.Proc().Do("CONFIG", "SET", "requirepass", password); err != nil {
		t.Fatalf("CONFIG SET requirepass: %v", err)
	}
	tlsBackend := backend{name: "redis-tls", store: func(t *testing.T) (map[string]any, *testredis.Server) {
		return map[string]any{"redis": map[string]any{
			"url":    fmt.Sprintf("rediss://:%s@%s/0", password, srv.Addr()),
			"prefix": fmt.Sprintf("e2e%d", prefixSeq.Add(1)),
		}}, srv.Server
	}}
	return newWorld(t, tlsBackend), srv, password
}

// A gateway told to trust the Redis's private CA (SSL_CERT_FILE, as an
// operator without a config option for it would) stores over TLS, with
// the URL's password, and delivers every event.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	w, srv, password := tlsRedisWorld(t)
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.gateway()
	g.env = []string{"SSL_CERT_FILE=" + srv.CAFile()}
	g.start()

	const n = 20
	var subjects []string
	for i := range n {
		id := fmt.Sprintf("RTLS%02d", i)
		g.mustAccept(product(id, i))
		subjects = append(subjects, "product/"+id)
	}
	batch := c360Batch([]c360Event{assetItem("created", 1), assetItem("updated", 2)})
	if code, msg, err := g.sendC360(c360Key, batch); err != nil || code != http.StatusOK {
		t.Fatalf("POST /webhooks/catalog360: got %d %q (%v), want 200", code, msg, err)
	}
	r.waitN(t, n+2, 30*time.Second)
	r.waitSubjects(t, subjects, 30*time.Second)
	if got, dup := r.counts(); got != n+2 || dup != 0 {
		t.Errorf("subscriber got %d distinct events and %d extra copies, want %d and none", got, dup, n+2)
	}

	// The events are in this Redis, which has no listener but TLS and the
	// helpers' socket: the gateway wrote them over TLS.
	replies, err := redisproc.Pipeline("unix", srv.Socket(), []string{"AUTH", password}, []string{"DBSIZE"})
	if err != nil || len(replies) != 2 || replies[1] == "0" {
		t.Errorf("AUTH, DBSIZE on the TLS Redis: got %q (%v), want keys written by the gateway", replies, err)
	}
	if strings.Contains(g.output(), password) {
		t.Errorf("the gateway's log prints the Redis password")
	}
}

// Without the CA trusted, the gateway does not accept events it cannot
// store: it keeps running, but /readyz and ingest answer 503, never 200;
// its own log lines name the certificate problem, and neither they nor
// the admin status show the URL's password.
func TestRedisTLSUntrustedCA(t *testing.T) {
	t.Parallel()
	w, _, password := tlsRedisWorld(t)
	w.log = map[string]any{"format": "json"}
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.gateway()
	g.launch() // no SSL_CERT_FILE: the system roots, which know nothing of the test CA

	waitFor(t, 30*time.Second, "/readyz answers 503", func() (bool, string) {
		c, err := g.getStatus("/readyz")
		if c == http.StatusOK {
			t.Fatalf("/readyz is 200 with a Redis whose certificate is not trusted")
		}
		return c == http.StatusServiceUnavailable, statusDetail(c, err)
	})
	for i := range 3 {
		code, msg, err := g.sendIimmpact(iimmpactSecret, product(fmt.Sprintf("UNTRUSTED%d", i), i).body())
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("POST /webhooks/iimmpact with the Redis CA untrusted: got %d %q (%v), want 503", code, msg, err)
		}
	}
	if c, err := g.getStatus("/healthz"); c != http.StatusOK {
		t.Errorf("/healthz: %s, want 200 (the process lives and keeps trying)", statusDetail(c, err))
	}
	// The gateway's own (JSON) lines, not only go-redis's, must say why:
	// an operator filtering the structured log sees it.
	const why = "x509: certificate signed by unknown authority"
	waitFor(t, 30*time.Second, "a gateway log line names the certificate problem", func() (bool, string) {
		for _, line := range strings.Split(g.output(), "\n") {
			if strings.HasPrefix(line, "{") && strings.Contains(line, why) {
				return true, ""
			}
		}
		return false, "no JSON line with " + why
	})
	var raw json.RawMessage
	g.adminGet(t, "/admin/api/status", &raw)
	var status struct {
		Store struct {
			OK bool `json:"ok"`
		} `json:"store"`
	}
	if err := json.Unmarshal(raw, &status); err != nil || status.Store.OK {
		t.Errorf("GET /admin/api/status: %s (%v), want store.ok false", raw, err)
	}
	if strings.Contains(string(raw), password) {
		t.Errorf("GET /admin/api/status shows the Redis password")
	}
	if strings.Contains(g.output(), password) {
		t.Errorf("the gateway's log prints the Redis password")
	}
	// Every line keeps the format asked for, the Redis client's own too.
	for _, line := range strings.Split(strings.TrimSpace(g.output()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log.format json, but a line is not JSON: %q", line)
		}
	}
	if n, _ := r.counts(); n != 0 {
		t.Errorf("subscriber got %d events from a gateway that stored none", n)
	}
}
