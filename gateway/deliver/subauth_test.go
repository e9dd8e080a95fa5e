package deliver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testpki"
)

// TestSubscriberAuth runs the tls and auth.oauth2 scenarios against every
// real backend.
func TestSubscriberAuth(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, bk backend)
	}{
		{"ClientCertificate", testClientCertificate},
		{"UnknownServerCA", testUnknownServerCA},
		{"OAuth2Token", testOAuth2Token},
		{"OAuth2EndpointRefuses", testOAuth2EndpointRefuses},
		{"OAuth2EndpointTimeout", testOAuth2EndpointTimeout},
		{"StopDuringTokenFetch", testStopDuringTokenFetch},
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, bk) })
			}
		})
	}
}

// logBuffer collects an engine's log at debug level, for assertions
// that no secret is in it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loggedOptions are testOptions whose log, at debug, goes to the buffer.
func loggedOptions(t *testing.T) (Options, *logBuffer) {
	o := testOptions(t)
	lb := &logBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return o, lb
}

// mtlsSink is a subscriber behind TLS that requires a client certificate
// signed by its CA, and records the name of each one it was shown.
type mtlsSink struct {
	*httptest.Server
	mu  sync.Mutex
	cns []string
}

func newMTLSSink(t *testing.T, ca *testpki.CA) *mtlsSink {
	s := &mtlsSink{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.cns = append(s.cns, r.TLS.PeerCertificates[0].Subject.CommonName)
		s.mu.Unlock()
	}))
	s.TLS = &tls.Config{
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
		Certificates: []tls.Certificate{ca.Server(t).TLS(t)},
	}
	// A connection per request, so that a rotated certificate shows in
	// the next one.
	s.Config.SetKeepAlivesEnabled(false)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *mtlsSink) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cns...)
}

// patientSub is testSub that keeps retrying (no delivery dies while a
// test changes its config).
func patientSub(name, url string) *gateway.SubscriberConfig {
	cfg := testSub(name, url)
	cfg.MaxInFlight = 1
	cfg.Retry.MaxAttempts = 100000
	cfg.Retry.MaxAge = 24 * time.Hour
	return cfg
}

func testClientCertificate(t *testing.T, bk backend) {
	st := bk.open(t)
	ca := testpki.NewCA(t, "subscriber CA")
	sk := newMTLSSink(t, ca)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	testpki.WriteFile(t, caFile, ca.PEM)

	// The server is trusted (ca_file) but no client certificate is set:
	// the handshake is refused and the attempt fails, to be retried.
	cfg := patientSub("a", sk.URL)
	cfg.TLS = gateway.ClientTLSConfig{CAFile: caFile}
	ids := putEvents(t, st, 1, time.Now(), "a")
	o, logs := loggedOptions(t)
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, o)
	waitFor(t, "an attempt without a client certificate", func() bool { return delivery(t, st, ids[0], "a").Attempts >= 1 })
	if d := delivery(t, st, ids[0], "a"); d.Status == gateway.StatusDelivered || d.LastError == "" || d.LastStatusCode != 0 {
		t.Fatalf("without a client certificate: status %s, last %d %q; want a failed attempt", d.Status, d.LastStatusCode, d.LastError)
	} else {
		t.Logf("without a client certificate: %q", d.LastError)
	}
	if got := sk.names(); len(got) != 0 {
		t.Fatalf("server saw requests %v without a client certificate", got)
	}

	// A reload adds the certificate: delivered, presenting it.
	certFile, keyFile := ca.Client(t, "client-one").Write(t, dir, "client")
	next := *cfg
	next.TLS = gateway.ClientTLSConfig{CertFile: certFile, KeyFile: keyFile, CAFile: caFile}
	e.Update(map[string]*gateway.SubscriberConfig{"a": &next})
	waitFor(t, "delivered with the certificate", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	if got := sk.names(); len(got) != 1 || got[0] != "client-one" {
		t.Fatalf("server saw client certificates %v, want [client-one]", got)
	}

	// The files renewed on disk (written beside, renamed over): the next
	// connection presents the new certificate, with no reload.
	ca.Client(t, "client-two-renewed").Write(t, dir, "client")
	ids2 := putEvents(t, st, 1, time.Now(), "a")
	e.Notify("a")
	waitFor(t, "delivered after the renewal", statusIs(t, st, "a", gateway.StatusDelivered, ids2...))
	if got := sk.names(); got[len(got)-1] != "client-two-renewed" {
		t.Errorf("server saw client certificates %v, want the renewed one last", got)
	}
	keyPEM, _ := os.ReadFile(keyFile)
	if l := logs.String(); bytes.Contains([]byte(l), keyPEM) || strings.Contains(l, "PRIVATE KEY") {
		t.Errorf("the log shows the key:\n%s", l)
	}
}

func testUnknownServerCA(t *testing.T, bk backend) {
	st := bk.open(t)
	ca := testpki.NewCA(t, "subscriber CA")
	sk := newMTLSSink(t, ca)
	dir := t.TempDir()
	other := testpki.NewCA(t, "another CA")
	caFile := filepath.Join(dir, "ca.pem")
	testpki.WriteFile(t, caFile, other.PEM)
	certFile, keyFile := ca.Client(t, "client").Write(t, dir, "client")

	cfg := patientSub("a", sk.URL)
	cfg.TLS = gateway.ClientTLSConfig{CertFile: certFile, KeyFile: keyFile, CAFile: caFile}
	ids := putEvents(t, st, 1, time.Now(), "a")
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))
	waitFor(t, "an attempt", func() bool { return delivery(t, st, ids[0], "a").Attempts >= 1 })
	if d := delivery(t, st, ids[0], "a"); d.Status == gateway.StatusDelivered || !strings.Contains(d.LastError, "unknown authority") {
		t.Fatalf("server of another CA: status %s, last error %q; want refused, unknown authority", d.Status, d.LastError)
	}
	// ca_file rotated to the right CA: the next connection trusts it.
	testpki.WriteFile(t, caFile, ca.PEM)
	waitFor(t, "delivered once ca_file names the server's CA", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	_ = e
}

// tokenEndpoint is a real OAuth2 token endpoint for the client-credentials
// grant: it checks the client's id and secret (HTTP Basic, or the form)
// and issues a new random token per request.
type tokenEndpoint struct {
	*httptest.Server
	id, secret string
	expiresIn  atomic.Int64
	hang       atomic.Bool
	requests   atomic.Int64

	mu     sync.Mutex
	issued []string
}

func newTokenEndpoint(t *testing.T, id, secret string) *tokenEndpoint {
	te := &tokenEndpoint{id: id, secret: secret}
	done := make(chan struct{})
	te.expiresIn.Store(3600)
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.requests.Add(1)
		// The form first: the server notices a client gone only once the
		// body is read.
		err := r.ParseForm()
		if te.hang.Load() {
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err != nil || r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_request"}`)
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != te.id || secret != te.secret {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client","error_description":"bad secret `+secret+`"}`)
			return
		}
		b := make([]byte, 16)
		rand.Read(b)
		te.mu.Lock()
		tok := fmt.Sprintf("tok-%d-%s", len(te.issued)+1, hex.EncodeToString(b))
		te.issued = append(te.issued, tok)
		te.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": te.expiresIn.Load()})
	}))
	t.Cleanup(te.Close)
	t.Cleanup(func() { close(done) }) // before Close: cleanups run last first
	return te
}

func (te *tokenEndpoint) tokens() []string {
	te.mu.Lock()
	defer te.mu.Unlock()
	return append([]string(nil), te.issued...)
}

// bearerSink is a subscriber that takes only the tokens the endpoint
// issued and it has not revoked; a refused one is quoted in its 401 page,
// as some servers do.
type bearerSink struct {
	*httptest.Server
	te *tokenEndpoint

	mu        sync.Mutex
	revoked   map[string]bool
	rejectAll bool
	seen      []string // the token of each request
}

func newBearerSink(t *testing.T, te *tokenEndpoint) *bearerSink {
	s := &bearerSink{te: te, revoked: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		known := false
		for _, t := range te.tokens() {
			known = known || t == tok
		}
		s.mu.Lock()
		s.seen = append(s.seen, tok)
		ok := known && !s.revoked[tok] && !s.rejectAll
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "invalid token "+tok)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *bearerSink) revokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.te.tokens() {
		s.revoked[t] = true
	}
}

func (s *bearerSink) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

const testClientSecret = "TOPSECRET-client-secret-0123"

func oauthSub(sk, te *httptest.Server, secret string) *gateway.SubscriberConfig {
	cfg := patientSub("a", sk.URL)
	cfg.Auth.OAuth2 = &gateway.OAuth2Config{TokenURL: te.URL + "/oauth/token", ClientID: "hookgate", ClientSecret: gateway.Secret(secret), Scopes: []string{"events.write"}}
	return cfg
}

// noSecrets fails the test if text holds the client secret or any token.
func noSecrets(t *testing.T, what, text string, te *tokenEndpoint) {
	t.Helper()
	for _, s := range append(te.tokens(), testClientSecret) {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a secret (%.12s...):\n%s", what, s, text)
		}
	}
}

func testOAuth2Token(t *testing.T, bk backend) {
	st := bk.open(t)
	te := newTokenEndpoint(t, "hookgate", testClientSecret)
	sk := newBearerSink(t, te)
	o, logs := loggedOptions(t)
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": oauthSub(sk.Server, te.Server, testClientSecret)}, o)

	// The token is fetched once and reused until it expires.
	ids := putEvents(t, st, 3, time.Now(), "a")
	e.Notify("a")
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	if got := te.tokens(); len(got) != 1 {
		t.Fatalf("tokens issued for 3 deliveries: %d, want 1", len(got))
	}

	// The subscriber refuses the cached token (revoked): 401, a fresh
	// token, sent again within the same attempt.
	sk.revokeAll()
	ids = putEvents(t, st, 1, time.Now(), "a")
	e.Notify("a")
	waitFor(t, "delivered after a 401", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	if d := delivery(t, st, ids[0], "a"); d.Attempts != 1 || len(d.History) != 1 || d.History[0].StatusCode != 200 {
		t.Errorf("after a 401 and a fresh token: attempts %d, codes %v; want one attempt, 200", d.Attempts, codes(d))
	}
	if got := len(te.tokens()); got != 2 {
		t.Errorf("tokens issued after one 401: %d, want 2", got)
	}
	if reqs := sk.requests(); len(reqs) != 5 || reqs[3] == reqs[4] {
		t.Errorf("subscriber saw %d requests (want 5), the last two with tokens %.6s.. and %.6s.. (want different)", len(reqs), reqs[3], reqs[4])
	}

	// Tokens that expire (within hookgate's 10-second margin) are
	// fetched for every delivery.
	te.expiresIn.Store(1)
	sk.revokeAll()
	ids = putEvents(t, st, 1, time.Now(), "a")
	e.Notify("a")
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	before := len(te.tokens())
	for range 2 {
		ids = putEvents(t, st, 1, time.Now(), "a")
		e.Notify("a")
		waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	}
	if got := len(te.tokens()) - before; got != 2 {
		t.Errorf("tokens fetched for 2 deliveries with expired tokens: %d, want 2", got)
	}

	// Refused with a fresh token too: the second 401 is the attempt's
	// answer (permanent), and the page quoting the token is redacted.
	te.expiresIn.Store(3600)
	sk.mu.Lock()
	sk.rejectAll = true
	sk.mu.Unlock()
	ids = putEvents(t, st, 1, time.Now(), "a")
	e.Notify("a")
	waitFor(t, "dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	d := delivery(t, st, ids[0], "a")
	if d.Attempts != 1 || d.DeadReason != gateway.DeadPermanent || d.LastStatusCode != 401 {
		t.Errorf("refused twice: attempts %d, reason %q, last %d; want 1, permanent, 401", d.Attempts, d.DeadReason, d.LastStatusCode)
	}
	if len(d.History) != 1 || d.History[0].Response == nil || d.History[0].Response.Body != "invalid token [redacted]" {
		t.Errorf("recorded response = %+v, want the token redacted", d.History)
	}
	raw, _ := json.Marshal(d)
	noSecrets(t, "the delivery record", string(raw), te)
	noSecrets(t, "the log", logs.String(), te)
}

func testOAuth2EndpointRefuses(t *testing.T, bk backend) {
	st := bk.open(t)
	te := newTokenEndpoint(t, "hookgate", testClientSecret)
	sk := newBearerSink(t, te)
	cfg := oauthSub(sk.Server, te.Server, "TOPSECRET-client-secret-0123-wrong")
	cfg.Breaker.ConsecutiveFailures = 2
	o, logs := loggedOptions(t)
	ids := putEvents(t, st, 1, time.Now(), "a")
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, o)

	// A token endpoint that refuses fails the attempt, retried, and the
	// breaker counts it.
	waitFor(t, "the breaker open", func() bool { return e.Breaker("a") == "open" })
	d := delivery(t, st, ids[0], "a")
	host := strings.TrimPrefix(te.URL, "http://")
	if want := "token endpoint " + host + ": HTTP 401 (invalid_client)"; d.LastError != want || d.Status != gateway.StatusRetrying {
		t.Errorf("token endpoint refusing: status %s, last error %q; want retrying, %q", d.Status, d.LastError, want)
	}
	if n := len(sk.requests()); n != 0 {
		t.Errorf("subscriber saw %d requests without a token", n)
	}

	// A reload with the right secret applies to the next attempt.
	next := *cfg
	next.Auth.OAuth2 = &gateway.OAuth2Config{TokenURL: cfg.Auth.OAuth2.TokenURL, ClientID: "hookgate", ClientSecret: testClientSecret}
	e.Update(map[string]*gateway.SubscriberConfig{"a": &next})
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	if got := len(te.tokens()); got != 1 {
		t.Errorf("tokens issued: %d, want 1", got)
	}
	l := logs.String()
	noSecrets(t, "the log", l, te)
	if strings.Contains(l, "TOPSECRET") {
		t.Errorf("the log shows the wrong secret:\n%s", l)
	}
	if strings.Contains(d.LastError, "TOPSECRET") {
		t.Errorf("the recorded error shows the secret: %q", d.LastError)
	}
}

func testOAuth2EndpointTimeout(t *testing.T, bk backend) {
	st := bk.open(t)
	te := newTokenEndpoint(t, "hookgate", testClientSecret)
	te.hang.Store(true)
	sk := newBearerSink(t, te)
	cfg := oauthSub(sk.Server, te.Server, testClientSecret)
	cfg.Timeout = 200 * time.Millisecond
	ids := putEvents(t, st, 1, time.Now(), "a")
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))

	// The fetch runs under the attempt's timeout.
	waitFor(t, "an attempt", func() bool { return delivery(t, st, ids[0], "a").Attempts >= 1 })
	host := strings.TrimPrefix(te.URL, "http://")
	if d := delivery(t, st, ids[0], "a"); d.LastError != "token endpoint "+host+": timeout after 200ms" {
		t.Errorf("last error = %q, want the token endpoint's timeout", d.LastError)
	}
	te.hang.Store(false)
	waitFor(t, "delivered", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	_ = e
}

// A shutdown that cancels an attempt waiting for its token hands the
// delivery back: no attempt is counted.
func testStopDuringTokenFetch(t *testing.T, bk backend) {
	st := bk.open(t)
	te := newTokenEndpoint(t, "hookgate", testClientSecret)
	te.hang.Store(true)
	sk := newBearerSink(t, te)
	cfg := oauthSub(sk.Server, te.Server, testClientSecret)
	cfg.Timeout = time.Minute
	ids := putEvents(t, st, 1, time.Now(), "a")
	e := New(st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))
	e.Start(context.Background())
	waitFor(t, "a token request", func() bool { return te.requests.Load() > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := delivery(t, st, ids[0], "a"); d.Attempts != 0 || d.Status != gateway.StatusPending {
		t.Errorf("after a stop during the token fetch: status %s, attempts %d; want pending, 0", d.Status, d.Attempts)
	}
}
