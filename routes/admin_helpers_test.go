package routes_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/routes"
)

// adminEnv says how newAdminEnv differs from newEnv.
type adminEnv struct {
	token string // admin.token; "" for none (the admin on loopback)
	// subscribers is YAML added under subscribers:, beside indexer.
	subscribers string
	engine      deliver.Options // PollInterval defaults to 10ms
	// wrap, if set, wraps the embedded store before anything uses it.
	wrap func(gateway.Store) gateway.Store
}

// newAdminEnv is newEnv with the differences o names: a real embedded
// store (wrapped as asked), real engine, both apps.
func newAdminEnv(t *testing.T, o adminEnv) *env {
	t.Helper()
	sub := newSubscriber(t)
	cfg := testConfig(t, "routes-test.yaml", `
admin:
  listen: "127.0.0.1:9090"
  token: "`+o.token+`"
sources:
  shop:
    provider: iimmpact
    secrets: ["`+shopSecret+`"]
subscribers:
  indexer:
    url: "`+sub.srv.URL+`/hook"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
`+o.subscribers)
	store := testStore(t)
	if o.wrap != nil {
		store = o.wrap(store)
	}
	eng := startEngine(t, store, cfg, o.engine)
	in := testIngester(t, cfg, store, eng)
	deps := routes.Deps{Ingester: in, Store: store, Engine: eng, StoreKind: gateway.StoreEmbedded, Version: "test"}
	public, admin := routes.New(deps)
	return &env{store: store, engine: eng, in: in, public: public, admin: admin, sub: sub}
}

// localReq is a request to the admin app addressed to host (the Host
// header), with Origin origin unless that is "".
func localReq(method, path, host, origin string) *http.Request {
	req := adminReq(method, path, "")
	req.Host = host
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return req
}

// claimCounter wraps a real store and counts Claim calls per subscriber.
type claimCounter struct {
	gateway.Store
	sub    string
	claims atomic.Int64
}

func (s *claimCounter) Claim(ctx context.Context, sub string, now time.Time, n int, lease time.Duration) ([]gateway.Claim, error) {
	if sub == s.sub {
		s.claims.Add(1)
	}
	return s.Store.Claim(ctx, sub, now, n, lease)
}

// healthStore is a real store that reports the health given.
type healthStore struct {
	gateway.Store
	health gateway.StoreHealth
}

func (s healthStore) Health(context.Context) (gateway.StoreHealth, error) { return s.health, nil }

// metricsText is the body of GET /metrics, scraped with the admin token
// (which a gateway without one ignores).
func metricsText(t *testing.T, e *env) string {
	t.Helper()
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/metrics", adminToken))
	if got != 200 {
		t.Fatalf("GET /metrics = %d %s", got, body)
	}
	return string(body)
}

// hasLines reports the lines of want missing from text.
func missingLines(text string, want ...string) []string {
	var out []string
	for _, w := range want {
		if !strings.Contains(text, w+"\n") {
			out = append(out, w)
		}
	}
	return out
}
