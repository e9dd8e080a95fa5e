package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookgate/hookgate/internal/testpki"
	"github.com/hookgate/hookgate/internal/testredis"
)

// The upstream accounts every world configures, with known secrets.
const (
	iimmpactSecret = "iimmpact-e2e-secret"
	iimmpactOld    = "iimmpact-e2e-rotated-out"
	c360Key        = "c360-e2e-key"
	adminToken     = "e2e-admin-token-0123"
)

// backend is a store the gateway can run on. Every gateway of one world
// shares its store.
type backend struct {
	name string
	// store returns the store block of a new world, and the Redis server
	// behind it (nil for the embedded store).
	store func(t *testing.T) (map[string]any, *testredis.Server)
}

var (
	embedded = backend{name: "embedded", store: func(t *testing.T) (map[string]any, *testredis.Server) {
		return map[string]any{"path": filepath.Join(t.TempDir(), "data")}, nil
	}}
	redisBackend = backend{name: "redis", store: func(t *testing.T) (map[string]any, *testredis.Server) {
		srv := testredis.Start(t)
		return map[string]any{
			"redis": map[string]any{"url": srv.URL(), "prefix": fmt.Sprintf("e2e%d", prefixSeq.Add(1))},
		}, srv
	}}
	// backends is every store a behaviour is checked against.
	backends = []backend{embedded, redisBackend}

	prefixSeq atomic.Int64
)

// forEachBackend runs body as a parallel subtest per backend.
func forEachBackend(t *testing.T, body func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			body(t, b)
		})
	}
}

// world is one test's setting: a store, the two upstream sources and a set
// of subscribers. Its gateways are started from config files it writes.
type world struct {
	t           *testing.T
	dir         string
	store       map[string]any
	redis       *testredis.Server // nil on the embedded store
	ca          *testpki.CA       // signs the public listener's certificates (serveTLS)
	server      map[string]any    // extra keys of the server block (max_body)
	iimmpact    map[string]any    // extra keys of the iimmpact source (max_event_age)
	noToken     bool              // admin without a token (loopback only)
	admin       map[string]any    // extra keys of the admin block (tls)
	log         map[string]any    // the log block, when set
	subscribers map[string]any
	gateways    int
	// tlsClient trusts the certificate the public listener serves, when
	// serveTLS set one.
	tlsClient *http.Client
}

func newWorld(t *testing.T, b backend) *world {
	t.Helper()
	store, srv := b.store(t)
	return &world{
		t:           t,
		dir:         t.TempDir(),
		store:       store,
		redis:       srv,
		server:      map[string]any{},
		iimmpact:    map[string]any{},
		subscribers: map[string]any{},
	}
}

// sub is one subscriber block; zero fields are left to the defaults.
type sub struct {
	rec         *recorder
	events      []string
	sources     []string
	maxInFlight int
	timeout     string
	headers     map[string]string
	retry       map[string]any // max_attempts, initial_backoff, ...
	breaker     map[string]any // consecutive_failures, cooldown
	extra       map[string]any // any other keys, as written (rate_limit, ...)
}

// fastRetry makes retries quick enough for a test while still backing off.
var fastRetry = map[string]any{"initial_backoff": "50ms", "max_backoff": "200ms"}

// subscribe adds the subscriber name, delivering to s.rec.
func (w *world) subscribe(name string, s sub) {
	m := map[string]any{"url": s.rec.url()}
	if len(s.rec.secrets) == 1 {
		m["secret"] = s.rec.secrets[0]
	} else {
		m["secret"] = s.rec.secrets
	}
	if s.events != nil {
		m["events"] = s.events
	}
	if s.sources != nil {
		m["sources"] = s.sources
	}
	if s.maxInFlight > 0 {
		m["max_in_flight"] = s.maxInFlight
	}
	if s.timeout != "" {
		m["timeout"] = s.timeout
	}
	if s.headers != nil {
		m["headers"] = s.headers
	}
	if s.retry != nil {
		m["retry"] = s.retry
	} else {
		m["retry"] = fastRetry
	}
	if s.breaker != nil {
		m["breaker"] = s.breaker
	}
	for k, v := range s.extra {
		m[k] = v
	}
	w.subscribers[name] = m
}

// config is the whole config.yaml of a gateway listening on listen/admin.
func (w *world) config(listen, admin string) map[string]any {
	server := map[string]any{"listen": listen}
	for k, v := range w.server {
		server[k] = v
	}
	iimmpact := map[string]any{"provider": "iimmpact", "secrets": []string{iimmpactOld, iimmpactSecret}}
	for k, v := range w.iimmpact {
		iimmpact[k] = v
	}
	adminBlock := map[string]any{"listen": admin, "token": adminToken}
	if w.noToken {
		delete(adminBlock, "token")
	}
	for k, v := range w.admin {
		adminBlock[k] = v
	}
	cfg := map[string]any{
		"server": server,
		"admin":  adminBlock,
		"store":  w.store,
		"sources": map[string]any{
			"iimmpact":   iimmpact,
			"catalog360": map[string]any{"provider": "catalog360", "secrets": []string{c360Key}},
		},
		"subscribers": w.subscribers,
	}
	if w.log != nil {
		cfg["log"] = w.log
	}
	return cfg
}

// gateway writes a config with fresh loopback ports and returns the
// gateway, not yet started.
func (w *world) gateway() *gateway {
	w.t.Helper()
	w.gateways++
	g := &gateway{
		t:      w.t,
		name:   fmt.Sprintf("gateway-%d", w.gateways),
		config: filepath.Join(w.dir, fmt.Sprintf("config-%d.yaml", w.gateways)),
		listen: freeAddr(w.t),
		admin:  freeAddr(w.t),
		token:  adminToken,

		tlsClient: w.tlsClient,
	}
	w.rewrite(g)
	return g
}

// rewrite writes g's config file afresh from the world, keeping g's
// listeners: how an operator edits config.yaml before a reload.
func (w *world) rewrite(g *gateway) {
	w.t.Helper()
	b, err := yaml.Marshal(w.config(g.listen, g.admin))
	if err != nil {
		w.t.Fatalf("marshal config: %v", err)
	}
	if err := os.WriteFile(g.config, b, 0o600); err != nil {
		w.t.Fatalf("write config: %v", err)
	}
}

// start writes a config and starts a gateway on it, ready.
func (w *world) start() *gateway {
	w.t.Helper()
	g := w.gateway()
	g.start()
	return g
}

// newSecret is a fresh whsec_ signing secret.
func newSecret(t testing.TB) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
