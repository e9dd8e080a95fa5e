package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/routes"
)

// scrape is GET /metrics on the admin listener with c, sending token as
// a bearer token unless it is "", as Prometheus does with
// authorization: {credentials: …}: the status and the body.
func (g *gateway) scrape(c *http.Client, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+g.admin+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metricsText is the admin listener's /metrics, scraped with the admin
// token.
func (g *gateway) metricsText(t *testing.T) string {
	t.Helper()
	code, text, err := g.scrape(admin, g.token)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	return text
}

// TestMetricsAfterTraffic: `curl /metrics` on the real binary, after a
// webhook is delivered, a forged one refused and a reload, shows every
// family the README lists (routes.MetricFamilies), with its type, by the
// labels named, histograms with their buckets.
func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	g.mustAccept(product("METRICS-1", 1))
	r.waitSubjects(t, []string{"product/METRICS-1"}, 30*time.Second)
	if code, _, err := g.sendIimmpact("forged", product("METRICS-2", 2).body()); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d %v, want 401", code, err)
	}
	if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code/100 != 2 {
		t.Fatalf("POST /admin/api/reload: %d %v", code, err)
	}

	// The attempt is counted once its record is written, just after the
	// subscriber answered.
	var text string
	waitFor(t, 30*time.Second, "the delivered attempt counted", func() (bool, string) {
		text = g.metricsText(t)
		return strings.Contains(text, `hookgate_delivery_attempts_total{outcome="delivered",subscriber="all"} 1`+"\n"), text
	})
	for _, f := range routes.MetricFamilies() {
		if !strings.Contains(text, "# TYPE "+f.Name+" "+f.Type+"\n") {
			t.Errorf("/metrics lacks the %s %s", f.Type, f.Name)
		}
	}
	for _, want := range []string{
		`hookgate_ingest_requests_total{code="200",source="iimmpact"} 1`,
		`hookgate_ingest_requests_total{code="401",source="iimmpact"} 1`,
		`hookgate_ingest_events_total{result="stored",source="iimmpact",type="iimmpact.product.updated"} 1`,
		`hookgate_delivery_attempt_duration_seconds_count{subscriber="all"} 1`,
		`hookgate_delivery_end_to_end_seconds_bucket{subscriber="all",le="+Inf"} 1`,
		`hookgate_subscriber_pending{subscriber="all"} 0`,
		`hookgate_subscriber_breaker_state{state="closed",subscriber="all"} 1`,
		`hookgate_config_reloads_total{result="success"} 1`,
		`hookgate_config_last_reload_successful 1`,
		`hookgate_store_up 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^hookgate_delivery_attempt_duration_seconds_bucket\{subscriber="all",le=`).FindAllString(text, -1)); n < 10 {
		t.Errorf("attempt duration histogram has %d buckets, want its 13 and +Inf", n)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
