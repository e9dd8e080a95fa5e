// Package deploy holds what hookgate ships for its operators: for
// monitoring, Prometheus alert rules (prometheus/alerts.yml, with promtool
// unit tests in prometheus/alerts_test.yml) and a Grafana dashboard
// (grafana/hookgate.json). This test checks them with promtool (from
// Debian's prometheus package, which scripts/deps.sh installs) and against
// the metric families GET /metrics exposes (routes.MetricFamilies, which
// the routes tests check against a real scrape). docker_test.go checks the
// Dockerfile, .dockerignore, the image's config.yaml and what the docs
// say about running it, as files; systemd_test.go the unit
// systemd/hookgate.service. The Helm chart (helm/hookgate) is checked by
// helm/check, a module of its own that `make test` runs after this one.
package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookgate/hookgate/routes"
)

// promtool returns promtool's path; its absence fails the test, so that
// the rules are never left unchecked.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): install Debian's prometheus package, as scripts/deps.sh does", err)
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// TestAlertRules: promtool accepts the rules and their unit tests pass.
func TestAlertRules(t *testing.T) {
	p := promtool(t)
	run(t, "prometheus", p, "check", "rules", "alerts.yml")
	run(t, "prometheus", p, "test", "rules", "alerts_test.yml")
}

// TestAlertRulesUseExposedMetrics: every metric an alert names is one
// that /metrics exposes.
func TestAlertRulesUseExposedMetrics(t *testing.T) {
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	raw, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	n := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			n++
			checkNames(t, "alert "+r.Alert, r.Expr)
		}
	}
	if n == 0 {
		t.Fatal("alerts.yml has no rules")
	}
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"` // a string, or {query: ...}
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// grafanaVars stand in for the dashboard's variables when its queries are
// checked as PromQL.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m",
	"$subscriber", ".*", "$source", ".*", "$job", ".*",
)

// TestGrafanaDashboard: the dashboard is valid JSON, its panels have
// unique ids, every query names only metrics /metrics exposes, and every
// query parses as PromQL (promtool checks them as recording rules).
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/hookgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/hookgate.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q uid %q: want both", d.Title, d.UID)
	}
	var exprs []string
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, ok := ids[p.ID]; ok {
				t.Errorf("panels %q and %q share the id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				checkNames(t, "panel "+p.Title, tg.Expr)
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		checkNames(t, "variable "+v.Name, q)
	}
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no queries")
	}

	var rules struct {
		Groups []map[string]any `yaml:"groups"`
	}
	var recs []map[string]string
	for i, e := range exprs {
		recs = append(recs, map[string]string{"record": "dashboard:query_" + string(rune('a'+i/26)) + string(rune('a'+i%26)), "expr": grafanaVars.Replace(e)})
	}
	rules.Groups = []map[string]any{{"name": "dashboard", "rules": recs}}
	out, err := yaml.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, promtool(t), "check", "rules", "dashboard.yml")
}

// TestDocsListEveryFamily: docs/metrics.md names every hookgate_ family
// and points at the shipped rules and dashboard, and every hookgate_ name
// in the README or any page of docs/ is one.
func TestDocsListEveryFamily(t *testing.T) {
	raw, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	for _, f := range routes.MetricFamilies() {
		if strings.HasPrefix(f.Name, "hookgate_") && !strings.Contains(page, "`"+f.Name+"`") {
			t.Errorf("docs/metrics.md does not list %s", f.Name)
		}
	}
	for _, path := range []string{"deploy/prometheus/alerts.yml", "deploy/grafana/hookgate.json"} {
		if !strings.Contains(page, path) {
			t.Errorf("docs/metrics.md does not point at %s", path)
		}
	}
	pages := []string{"../README.md"}
	err = filepath.WalkDir("../docs", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pages {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checkNames(t, strings.TrimPrefix(filepath.ToSlash(path), "../"), string(raw))
	}
}

var metricName = regexp.MustCompile(`\b(?:hookgate|go|process)_[a-z0-9_]+\b`)

// checkNames fails the test for each metric name in text that /metrics
// does not expose: a listed family, or a listed histogram's _bucket, _sum
// or _count.
func checkNames(t *testing.T, where, text string) {
	t.Helper()
	families := map[string]string{}
	for _, f := range routes.MetricFamilies() {
		families[f.Name] = f.Type
	}
	for _, name := range metricName.FindAllString(text, -1) {
		if _, ok := families[name]; ok {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if families[base] == "histogram" && base != name {
			continue
		}
		t.Errorf("%s names %s, which /metrics does not expose (routes.MetricFamilies)", where, name)
	}
}
