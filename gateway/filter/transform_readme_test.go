package filter_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookgate/hookgate/gateway"
)

// TestTransformReadme runs the README's transforms, as written there, on
// the providers' samples the README names, and checks that each gives the
// data the README shows, byte for byte.
func TestTransformReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Transforms\n")
	if start < 0 {
		t.Fatal("README has no Transforms section")
	}
	section = section[start:]
	section = section[:strings.Index(section, "\n## Tests\n")]

	var exprs, datas []string
	blocks := regexp.MustCompile("(?s)```(yaml|json)\n(.*?)```").FindAllStringSubmatch(section, -1)
	for _, b := range blocks {
		switch b[1] {
		case "yaml":
			exprs = append(exprs, readmeTransform(t, b[2]))
		case "json":
			var v struct{ Data json.RawMessage }
			if err := json.Unmarshal([]byte("{"+b[2]+"}"), &v); err != nil {
				t.Fatalf("README json block %q: %v", b[2], err)
			}
			datas = append(datas, string(v.Data))
		}
	}
	samples := []string{
		"../../plugins/iimmpact/testdata/valid/product_updated.golden.json",
		"../../plugins/iimmpact/testdata/valid/product_updated.golden.json",
		"../../plugins/catalog360/testdata/valid/assetitem_updated.golden.json",
	}
	if len(exprs) != len(samples) || len(datas) != len(samples) {
		t.Fatalf("README has %d transforms and %d results; the test knows %d samples", len(exprs), len(datas), len(samples))
	}
	for i, expr := range exprs {
		got, err := mustCompileTransform(t, expr).Apply(gateway.NewFilterInput(goldenEnvelope(t, samples[i])))
		if err != nil || string(got) != datas[i] {
			t.Errorf("README transform %d on %s:\n got %s, %v\nwant %s", i+1, samples[i], got, err, datas[i])
		}
	}
	for _, expr := range []string{readmeProject, readmeRename, readmeDiff} {
		if !strings.Contains(strings.Join(exprs, "\n"), strings.TrimSpace(strings.Split(expr, "\n")[0])) {
			t.Errorf("the test's transform %q is not the README's", expr)
		}
	}
}

// readmeTransform returns the transform of a README yaml block (an
// indented piece of config.yaml).
func readmeTransform(t *testing.T, block string) string {
	t.Helper()
	indent := len(block) - len(strings.TrimLeft(block, " "))
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		lines = append(lines, strings.TrimPrefix(l, strings.Repeat(" ", indent)))
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(strings.Join(lines, "\n")), &doc); err != nil {
		t.Fatalf("README yaml block: %v\n%s", err, block)
	}
	var find func(m map[string]any) string
	find = func(m map[string]any) string {
		if s, ok := m["transform"].(string); ok {
			return s
		}
		for _, v := range m {
			if sub, ok := v.(map[string]any); ok {
				if s := find(sub); s != "" {
					return s
				}
			}
		}
		return ""
	}
	s := find(doc)
	if s == "" {
		t.Fatalf("README yaml block without a transform:\n%s", block)
	}
	return s
}

// goldenEnvelope is the envelope of the first event of a provider's golden
// file (plugins/<provider>/testdata/valid/*.golden.json).
func goldenEnvelope(t *testing.T, path string) gateway.Envelope {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Events []struct {
			Type, Subject, Time, Identity string
			Object, Previous              json.RawMessage
		}
	}
	if err := json.Unmarshal(b, &g); err != nil || len(g.Events) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	e := g.Events[0]
	source, _, _ := strings.Cut(e.Type, ".")
	at, _ := time.Parse(time.RFC3339, e.Time)
	return gateway.NewEnvelope(source, gateway.Event{
		Identity: e.Identity, Type: e.Type, Subject: e.Subject, Time: at, Object: e.Object, Previous: e.Previous,
	}, time.Now())
}
