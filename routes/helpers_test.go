package routes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/plugins/iimmpact"
	"github.com/hookgate/hookgate/routes"
)

const (
	shopSecret = "shop-webhook-secret"
	adminToken = "admin-token-for-tests"
	// maxBody is small so that the 413 test needs no large body.
	maxBody = 16384
)

// subscriber is a real HTTP consumer that counts what it receives.
type subscriber struct {
	srv *httptest.Server
	mu  sync.Mutex
	ids []string // webhook-id of every request
	got chan struct{}
}

func newSubscriber(t *testing.T) *subscriber {
	s := &subscriber{got: make(chan struct{}, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.ids = append(s.ids, r.Header.Get("webhook-id"))
		s.mu.Unlock()
		s.got <- struct{}{}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// wait blocks until the subscriber has received one more request, failing
// the test if none comes in a generous minute (no timing is asserted).
func (s *subscriber) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.got:
	case <-time.After(time.Minute):
		t.Fatal("subscriber received nothing within a minute")
	}
}

// env is one gateway under test: real store, real plugins, real engine,
// both apps.
type env struct {
	store  gateway.Store
	engine *deliver.Engine
	in     *gateway.Ingester
	public *fiber.App
	admin  *fiber.App
	sub    *subscriber
}

// testConfig parses src as a config file named name, with no environment.
func testConfig(t testing.TB, name, src string) *gateway.Config {
	t.Helper()
	cfg, err := config.Parse(name, []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// testStore opens an embedded store in a temporary directory, closed when
// the test ends.
func testStore(t testing.TB) gateway.Store {
	t.Helper()
	s, err := boltstore.Open(gateway.StoreConfig{Path: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startEngine starts an engine for cfg's subscribers on store, stopped when
// the test ends; PollInterval defaults to 10ms.
func startEngine(t *testing.T, store gateway.Store, cfg *gateway.Config, o deliver.Options) *deliver.Engine {
	t.Helper()
	if o.PollInterval == 0 {
		o.PollInterval = 10 * time.Millisecond
	}
	eng := deliver.New(store, cfg.Subscribers, o)
	eng.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		eng.Stop(ctx)
	})
	return eng
}

// testIngester is the ingester of cfg on store, waking eng (when set).
func testIngester(t testing.TB, cfg *gateway.Config, store gateway.Store, eng *deliver.Engine) *gateway.Ingester {
	t.Helper()
	var o gateway.IngesterOptions
	if eng != nil {
		o.Notify = eng.Notify
	}
	in, err := gateway.NewIngester(cfg, store, o)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWithStore(t, nil)
}

// newEnvWithStore is newEnv on the given store, or a new embedded one when
// store is nil.
func newEnvWithStore(t *testing.T, store gateway.Store) *env {
	t.Helper()
	sub := newSubscriber(t)
	cfg := testConfig(t, "routes-test.yaml", `
server:
  max_body: 16KB
admin:
  token: "`+adminToken+`"
sources:
  shop:
    provider: iimmpact
    secrets: ["`+shopSecret+`"]
subscribers:
  indexer:
    url: "`+sub.srv.URL+`/hook"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
`)
	if store == nil {
		store = testStore(t)
	}
	eng := startEngine(t, store, cfg, deliver.Options{})
	in := testIngester(t, cfg, store, eng)
	deps := routes.Deps{Ingester: in, Store: store, Engine: eng, StoreKind: gateway.StoreEmbedded, Version: "test"}
	public, admin := routes.New(deps)
	return &env{store: store, engine: eng, in: in, public: public, admin: admin, sub: sub}
}

// do sends req to app and returns the status and body.
func do(t *testing.T, app *fiber.App, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// webhook is a POST to /webhooks/{source}, signed with secret unless it is "".
func webhook(source, body, secret string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/"+source, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		name, value := iimmpact.Provider{}.Sign([]byte(body), []byte(secret))
		req.Header.Set(name, value)
	}
	return req
}

// adminReq is a request to the admin app with the given bearer token ("" for
// none).
func adminReq(method, path, token string) *http.Request {
	req := httptest.NewRequest(method, path, nil)
	// An absolute URL names the Host; the request goes in origin form
	// with a Host header, as a client sends it (HTTP/1.1 requires Host).
	req.RequestURI = req.URL.RequestURI()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func product(id string) string {
	return `{"type":"product.updated","resource":"products","id":"` + id +
		`","timestamp":"2024-01-15T10:30:00.000Z","data":{"id":"` + id + `","price":10}}`
}

// listen serves app on a loopback port until the test ends and returns its
// base URL.
func listen(t testing.TB, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return "http://" + ln.Addr().String()
}
