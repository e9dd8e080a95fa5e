package routes_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/routes"
)

// fakeReloader reports fixed reload results.
type fakeReloader struct {
	loadedAt      time.Time
	lastErr       string
	succeeded, ko int64
}

func (r *fakeReloader) Reload() error                           { return nil }
func (r *fakeReloader) LoadedAt() time.Time                     { return r.loadedAt }
func (r *fakeReloader) LastReloadError() string                 { return r.lastErr }
func (r *fakeReloader) ReloadCounts() (succeeded, failed int64) { return r.succeeded, r.ko }

// oldestStore is a real store whose Stats report the oldest pending
// delivery as created at a fixed time, so that the age gauge has a known
// value.
type oldestStore struct {
	gateway.Store
	at time.Time
}

func (s oldestStore) Stats(ctx context.Context, sub string) (gateway.SubscriberStats, error) {
	st, err := s.Store.Stats(ctx, sub)
	if err == nil && st.Pending > 0 {
		st.OldestPendingAt = s.at
	}
	return st, err
}

// Health passes the real store's on: the metrics read it.
func (s oldestStore) Health(ctx context.Context) (gateway.StoreHealth, error) {
	return s.Store.(gateway.HealthReporter).Health(ctx)
}

// metricsEnv is a gateway with three subscribers: indexer answers 200,
// broken answers 503 (two attempts: retrying, then dead), held is paused;
// and two sources: shop, and guarded with max_event_age 1h. Its clock
// (Deps.Now) stands still at now.
type metricsEnv struct {
	*env
	now      time.Time
	reloader *fakeReloader
	brokenN  atomic.Int64
}

func newMetricsEnv(t *testing.T) *metricsEnv {
	t.Helper()
	m := &metricsEnv{now: time.Now()}
	sub := newSubscriber(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.brokenN.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(broken.Close)
	cfg := testConfig(t, "routes-test.yaml", `
admin:
  token: "`+adminToken+`"
sources:
  shop:
    provider: iimmpact
    secrets: ["`+shopSecret+`"]
  guarded:
    provider: iimmpact
    secrets: ["`+shopSecret+`"]
    max_event_age: 1h
subscribers:
  indexer:
    url: "`+sub.srv.URL+`/hook"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
  broken:
    url: "`+broken.URL+`/hook"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    retry: {max_attempts: 2, initial_backoff: 1ms, max_backoff: 1ms}
  held:
    url: "`+sub.srv.URL+`/held"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
`)
	store := oldestStore{testStore(t), m.now.Add(-90 * time.Second)}
	if err := store.SetPaused(context.Background(), "held", gateway.PauseAdmin); err != nil {
		t.Fatal(err)
	}
	eng := startEngine(t, store, cfg, deliver.Options{})
	in := testIngester(t, cfg, store, eng)
	m.reloader = &fakeReloader{loadedAt: m.now.Truncate(time.Second), lastErr: "config.yaml:3: sources.x: bad", succeeded: 3, ko: 1}
	deps := routes.Deps{Ingester: in, Store: store, Engine: eng, Reloader: m.reloader,
		StoreKind: gateway.StoreEmbedded, Version: "test", Now: func() time.Time { return m.now }}
	public, admin := routes.New(deps)
	m.env = &env{store: store, engine: eng, in: in, public: public, admin: admin, sub: sub}
	return m
}

// traffic sends a stored event (to indexer, broken and held), its
// duplicate, a stale one, a forged one and one for no source, notes a
// filter error, and waits until indexer and broken have made their
// attempts.
func (m *metricsEnv) traffic(t *testing.T) {
	t.Helper()
	for _, r := range []struct {
		req  *http.Request
		want int
	}{
		{webhook("shop", product("A"), shopSecret), 200},
		{webhook("shop", product("A"), shopSecret), 200},
		{webhook("guarded", product("S"), shopSecret), 200}, // from 2024: stale
		{webhook("shop", product("B"), "wrong"), 401},
		{webhook("nope", product("A"), shopSecret), 404},
	} {
		if got, body := do(t, m.public, r.req); got != r.want {
			t.Fatalf("%s = %d %s, want %d", r.req.URL, got, body, r.want)
		}
	}
	m.in.FilterError("indexer")
	m.sub.wait(t)
	waitForAttempts(t, m.env, "indexer", 1)
	waitForAttempts(t, m.env, "broken", 2)
}

// TestMetricsFamilies: after traffic, /metrics shows every family of
// routes.MetricFamilies with its type, and no hookgate_ family the list
// lacks (the README, the alert rules and the Grafana dashboard are checked
// against that list).
func TestMetricsFamilies(t *testing.T) {
	m := newMetricsEnv(t)
	m.traffic(t)
	text := metricsText(t, m.env)

	typeLine := regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)
	scraped := map[string]string{}
	for _, g := range typeLine.FindAllStringSubmatch(text, -1) {
		scraped[g[1]] = g[2]
	}
	listed := map[string]bool{}
	for _, f := range routes.MetricFamilies() {
		listed[f.Name] = true
		typ, ok := scraped[f.Name]
		if !ok {
			t.Errorf("/metrics lacks the family %s", f.Name)
			continue
		}
		if typ != f.Type {
			t.Errorf("%s is a %s, listed as a %s", f.Name, typ, f.Type)
		}
		if !regexp.MustCompile(`(?m)^` + f.Name + `(_bucket|_sum|_count)?[{ ]`).MatchString(text) {
			t.Errorf("%s has no sample", f.Name)
		}
	}
	for name := range scraped {
		if strings.HasPrefix(name, "hookgate_") && !listed[name] {
			t.Errorf("/metrics has %s, which routes.MetricFamilies lacks", name)
		}
	}
	for _, want := range []string{"go_gc_duration_seconds", "process_cpu_seconds_total"} {
		if _, ok := scraped[want]; !ok {
			t.Errorf("/metrics lacks %s: the Go and process collectors are not registered", want)
		}
	}
}

// TestMetricsLabels: the families carry the labels named in the README,
// with the values the traffic implies.
func TestMetricsLabels(t *testing.T) {
	m := newMetricsEnv(t)
	m.traffic(t)
	text := metricsText(t, m.env)
	if miss := missingLines(text,
		`hookgate_build_info{version="test"} 1`,
		// ingest, by source and code; an unknown source under a fixed label
		`hookgate_ingest_requests_total{code="200",source="shop"} 2`,
		`hookgate_ingest_requests_total{code="401",source="shop"} 1`,
		`hookgate_ingest_requests_total{code="200",source="guarded"} 1`,
		`hookgate_ingest_requests_total{code="404",source="_unknown"} 1`,
		// events, by source, type and result
		`hookgate_ingest_events_total{result="stored",source="shop",type="iimmpact.product.updated"} 1`,
		`hookgate_ingest_events_total{result="duplicate",source="shop",type="iimmpact.product.updated"} 1`,
		`hookgate_ingest_events_total{result="stale",source="guarded",type="iimmpact.product.updated"} 1`,
		`hookgate_ingest_registration_tests_total{source="shop"} 0`,
		// attempts, by subscriber and outcome, and their latencies
		`hookgate_delivery_attempts_total{outcome="delivered",subscriber="indexer"} 1`,
		`hookgate_delivery_attempts_total{outcome="retrying",subscriber="broken"} 1`,
		`hookgate_delivery_attempts_total{outcome="dead",subscriber="broken"} 1`,
		`hookgate_delivery_attempts_total{outcome="delivered",subscriber="held"} 0`,
		// dead deliveries by reason: every reason's series, from the first attempt
		`hookgate_delivery_dead_total{reason="attempts",subscriber="broken"} 1`,
		`hookgate_delivery_dead_total{reason="permanent",subscriber="broken"} 0`,
		`hookgate_delivery_dead_total{reason="transform",subscriber="indexer"} 0`,
		`hookgate_delivery_attempt_duration_seconds_bucket{subscriber="indexer",le="+Inf"} 1`,
		`hookgate_delivery_attempt_duration_seconds_count{subscriber="indexer"} 1`,
		`hookgate_delivery_attempt_duration_seconds_count{subscriber="broken"} 2`,
		`hookgate_delivery_end_to_end_seconds_bucket{subscriber="indexer",le="+Inf"} 1`,
		`hookgate_delivery_end_to_end_seconds_count{subscriber="indexer"} 1`,
		`hookgate_delivery_end_to_end_seconds_count{subscriber="broken"} 0`,
		`hookgate_filter_errors_total{subscriber="indexer"} 1`,
		`hookgate_filter_errors_total{subscriber="broken"} 0`,
		// the queue, from the store
		`hookgate_subscriber_pending{subscriber="held"} 1`,
		`hookgate_subscriber_oldest_pending_age_seconds{subscriber="held"} 90`,
		`hookgate_subscriber_pending{subscriber="indexer"} 0`,
		`hookgate_subscriber_oldest_pending_age_seconds{subscriber="indexer"} 0`,
		`hookgate_subscriber_retrying{subscriber="indexer"} 0`,
		`hookgate_subscriber_dead{subscriber="broken"} 1`,
		`hookgate_subscriber_delivered_total{subscriber="indexer"} 1`,
		`hookgate_subscriber_paused{subscriber="held"} 1`,
		`hookgate_subscriber_paused{subscriber="indexer"} 0`,
		`hookgate_subscriber_removed{subscriber="held"} 0`,
		`hookgate_subscriber_in_flight{subscriber="held"} 0`,
		`hookgate_subscriber_breaker_state{state="closed",subscriber="broken"} 1`,
		`hookgate_subscriber_breaker_state{state="open",subscriber="broken"} 0`,
		`hookgate_subscriber_breaker_state{state="half-open",subscriber="broken"} 0`,
		// reloads
		`hookgate_config_reloads_total{result="success"} 3`,
		`hookgate_config_reloads_total{result="failure"} 1`,
		`hookgate_config_last_reload_successful 0`,
		// the store and the body budget
		`hookgate_store_up 1`,
		`hookgate_ingest_pending_bytes 0`,
		`hookgate_ingest_overload_refusals_total 0`,
	); len(miss) > 0 {
		t.Errorf("metrics lack %q:\n%s", miss, text)
	}
	// The histograms have the buckets the README gives: 5ms to 60s per
	// attempt, 10ms to an hour end to end.
	for _, le := range []string{"0.005", "0.1", "1", "10", "60"} {
		line := `hookgate_delivery_attempt_duration_seconds_bucket{subscriber="indexer",le="` + le + `"} `
		if !strings.Contains(text, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	for _, le := range []string{"0.01", "1", "60", "900", "3600"} {
		line := `hookgate_delivery_end_to_end_seconds_bucket{subscriber="indexer",le="` + le + `"} `
		if !strings.Contains(text, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	if strings.Contains(text, `source="nope"`) {
		t.Error("an unknown source's name became a label value")
	}
}

// TestMetricsEventTypesBounded: an upstream inventing event types gets at
// most 100 series per source; the rest count as "other".
func TestMetricsEventTypesBounded(t *testing.T) {
	m := newMetricsEnv(t)
	for i := range 105 {
		body := `{"type":"gadget.updated","resource":"gadget` + strconv.Itoa(i) + `","id":"G` + strconv.Itoa(i) +
			`","timestamp":"2024-01-15T10:30:00.000Z","data":{"id":"G"}}`
		if got, b := do(t, m.public, webhook("shop", body, shopSecret)); got != 200 {
			t.Fatalf("event %d = %d %s", i, got, b)
		}
	}
	text := metricsText(t, m.env)
	types := map[string]bool{}
	for _, g := range regexp.MustCompile(`hookgate_ingest_events_total\{result="stored",source="shop",type="([^"]+)"\} (\d+)`).FindAllStringSubmatch(text, -1) {
		types[g[1]] = true
		if g[1] == "other" && g[2] != "5" {
			t.Errorf("other = %s, want the 5 types past the cap", g[2])
		}
	}
	if len(types) != 101 || !types["other"] {
		t.Errorf("%d type series (other: %v), want 100 and other", len(types), types["other"])
	}
}

// TestAdminRates: GET /admin/api/rates has, per subscriber, 180 buckets of
// 10 seconds of this process's attempts, the last the current one.
func TestAdminRates(t *testing.T) {
	m := newMetricsEnv(t)
	m.traffic(t)
	got, body := do(t, m.admin, adminReq(http.MethodGet, "/admin/api/rates", adminToken))
	if got != 200 {
		t.Fatalf("GET /admin/api/rates = %d %s", got, body)
	}
	var v struct {
		BucketSeconds int `json:"bucket_seconds"`
		Subscribers   map[string]struct {
			Delivered []int64 `json:"delivered"`
			Failed    []int64 `json:"failed"`
		} `json:"subscribers"`
	}
	decode(t, body, &v)
	if v.BucketSeconds != 10 || len(v.Subscribers) != 3 {
		t.Fatalf("rates = %s, want 10s buckets for indexer, broken and held", body)
	}
	sum := func(xs []int64) (n int64) {
		for _, x := range xs {
			n += x
		}
		return n
	}
	for name, want := range map[string][2]int64{"indexer": {1, 0}, "broken": {0, 2}, "held": {0, 0}} {
		r := v.Subscribers[name]
		if len(r.Delivered) != 180 || len(r.Failed) != 180 {
			t.Errorf("%s: %d and %d buckets, want 180", name, len(r.Delivered), len(r.Failed))
			continue
		}
		if d, f := sum(r.Delivered), sum(r.Failed); d != want[0] || f != want[1] {
			t.Errorf("%s: %d delivered, %d failed, want %d and %d", name, d, f, want[0], want[1])
		}
	}
	if got, _ := do(t, m.admin, adminReq(http.MethodGet, "/admin/api/rates", "")); got != http.StatusUnauthorized {
		t.Errorf("GET /admin/api/rates without the token = %d, want 401", got)
	}
}
