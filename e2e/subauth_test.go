package e2e

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testpki"
)

const e2eOAuthSecret = "TOPSECRET-e2e-oauth-client-secret"

// e2eTokenEndpoint is a client-credentials token endpoint checking HTTP
// Basic credentials; it issues a random token per request.
type e2eTokenEndpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	issued []string
}

func newE2ETokenEndpoint(t *testing.T) *e2eTokenEndpoint {
	te := &e2eTokenEndpoint{}
	te.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		id, secret, _ := r.BasicAuth()
		if r.PostForm.Get("grant_type") != "client_credentials" || id != "hookgate" || secret != e2eOAuthSecret {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		b := make([]byte, 16)
		rand.Read(b)
		te.mu.Lock()
		tok := "e2e-token-" + hex.EncodeToString(b)
		te.issued = append(te.issued, tok)
		te.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(te.srv.Close)
	return te
}

func (te *e2eTokenEndpoint) tokens() []string {
	te.mu.Lock()
	defer te.mu.Unlock()
	return append([]string(nil), te.issued...)
}

// A subscriber behind TLS that requires a client certificate and a bearer
// token from a real token endpoint gets every event; the token is fetched
// once; neither the client secret nor a token shows in the gateway's log
// or the admin API.
func TestAuthenticatedSubscriber(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		w.log = map[string]any{"level": "debug"}
		te := newE2ETokenEndpoint(t)
		ca := testpki.NewCA(t, "e2e subscriber CA")
		certFile, keyFile := ca.Client(t, "hookgate-e2e").Write(t, w.dir, "client")
		caFile := filepath.Join(w.dir, "ca.pem")
		testpki.WriteFile(t, caFile, ca.PEM)

		// The recorder, moved behind mTLS and a bearer check.
		rec := newRecorder(t, "secure", 1)
		rec.srv.Close()
		var mu sync.Mutex
		var clientNames []string
		rec.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			ok := false
			for _, t := range te.tokens() {
				ok = ok || t == tok
			}
			if !ok {
				rw.WriteHeader(http.StatusUnauthorized)
				return
			}
			mu.Lock()
			clientNames = append(clientNames, r.TLS.PeerCertificates[0].Subject.CommonName)
			mu.Unlock()
			rec.serve(rw, r)
		}))
		rec.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(),
			Certificates: []tls.Certificate{ca.Server(t).TLS(t)}}
		rec.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		rec.srv.StartTLS()

		w.subscribe("secure", sub{rec: rec, extra: map[string]any{
			"tls": map[string]any{"cert_file": certFile, "key_file": keyFile, "ca_file": caFile},
			"auth": map[string]any{"oauth2": map[string]any{
				"token_url": te.srv.URL + "/token", "client_id": "hookgate",
				"client_secret": "${E2E_OAUTH_SECRET}", "scopes": []string{"events.write"},
			}},
		}})
		g := w.gateway()
		g.env = append(g.env, "E2E_OAUTH_SECRET="+e2eOAuthSecret)
		g.start()

		for i := range 3 {
			g.mustAccept(catalogProduct(fmt.Sprintf("AUTH%d", i), i, nil))
		}
		rec.waitN(t, 3, 30*time.Second)
		if n := len(te.tokens()); n != 1 {
			t.Errorf("tokens fetched for 3 deliveries: %d, want 1", n)
		}
		mu.Lock()
		if len(clientNames) == 0 || clientNames[0] != "hookgate-e2e" {
			t.Errorf("client certificates seen: %v", clientNames)
		}
		mu.Unlock()

		// A delivered attempt is logged once its record is in: wait for it,
		// so that the log read below is the whole of it.
		waitFor(t, 30*time.Second, "the debug log to mention the subscriber", func() (bool, string) {
			return strings.Contains(g.output(), "secure"), "not yet; is it the log?"
		})
		secrets := append(te.tokens(), e2eOAuthSecret, "PRIVATE KEY")
		var shown []string
		for _, path := range []string{"/admin/api/subscribers", "/admin/api/status", "/admin/api/events?limit=10"} {
			var raw json.RawMessage
			g.adminGet(t, path, &raw)
			shown = append(shown, path+": "+string(raw))
		}
		shown = append(shown, "log: "+g.output())
		for _, s := range shown {
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Errorf("a secret (%.14s...) is shown in %.300s", secret, s)
				}
			}
		}
	})
}

// `hookgate check` reports a tls block on an http url and an oauth2
// block without its secret (an unset variable) at their lines, without
// printing any secret.
func TestCheckSubscriberAuthErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	plain := newRecorder(t, "plain", 1)
	caFile := filepath.Join(w.dir, "ca.pem")
	testpki.WriteFile(t, caFile, testpki.NewCA(t, "ca").PEM)
	w.subscribe("plain", sub{rec: plain, extra: map[string]any{
		"tls": map[string]any{"ca_file": caFile},
		"auth": map[string]any{"oauth2": map[string]any{
			"token_url": "https://auth.example/token", "client_id": "hookgate", "client_secret": "${E2E_UNSET_OAUTH_SECRET}",
		}},
	}})
	g := w.gateway()
	_, stderr, code := run(t, nil, "check", "-config", g.config)
	if code != 1 {
		t.Fatalf("check: exit %d, want 1; stderr:\n%s", code, stderr)
	}
	src, err := os.ReadFile(g.config)
	if err != nil {
		t.Fatal(err)
	}
	lineOf := func(re string) int {
		for i, l := range strings.Split(string(src), "\n") {
			if regexp.MustCompile(re).MatchString(l) {
				return i + 1
			}
		}
		t.Fatalf("no line matches %s in:\n%s", re, src)
		return 0
	}
	base := filepath.Base(g.config)
	for _, want := range []string{
		base + ":" + strconv.Itoa(lineOf(`^\s+tls:`)) + ": subscribers.plain.tls: needs an https url",
		base + ":" + strconv.Itoa(lineOf(`^\s+client_secret:`)) + ": subscribers.plain.auth.oauth2.client_secret: required: an empty secret would authenticate nothing (E2E_UNSET_OAUTH_SECRET is unset)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("check's errors do not include %q:\n%s", want, stderr)
		}
	}
}
