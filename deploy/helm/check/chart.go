// Command hookgate-chart renders and lints the Helm chart in
// deploy/helm/hookgate with Helm's own Go packages (the chart loader, the
// values schema, the template engine and the linter), so that neither
// `make test` nor an operator needs the helm binary to see what the chart
// makes:
//
//	hookgate-chart template [-chart DIR] [-f values.yaml]... [--set key=value]...
//	hookgate-chart lint     [-chart DIR] [-f values.yaml]... [--set key=value]...
//
// template prints the manifests, each decoded strictly as its Kubernetes
// type first (an unknown field or kind is an error); lint prints Helm's
// lint messages. Either exits 1 with a one-line error when the values do
// not fit values.schema.json or the chart refuses them.
//
// It is a module of its own, so that Helm and the Kubernetes API types stay
// out of hookgate's go.mod; its tests (chart_test.go) are what `make test`
// runs on the chart.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// Release is the release name and namespace the chart is rendered for.
const (
	releaseName = "hookgate"
	namespace   = "hookgate"
)

// kubeVersion is the cluster the chart is rendered and linted for: the
// lowest its Chart.yaml kubeVersion allows (the preStop sleep action is on
// by default from 1.30), not Helm's default for tests (1.20).
var kubeVersion = func() *common.KubeVersion {
	kv, err := common.ParseKubeVersion("v1.30.0")
	if err != nil {
		panic(err)
	}
	return kv
}()

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Helm's loader logs at info level that it follows files/alerts.yml, a
// link by design; warnings and errors still show.
func init() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// run is the command: 0 on success, 1 with one line on stderr otherwise,
// 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "template" && args[0] != "lint") {
		fmt.Fprintln(stderr, "usage: hookgate-chart template|lint [-chart DIR] [-f values.yaml]... [--set key=value]...")
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("chart", "../hookgate", "the chart's `directory`")
	var files, sets multi
	fs.Var(&files, "f", "a values `file` (repeatable; later ones win)")
	fs.Var(&sets, "set", "a `key=value` as helm --set takes it (repeatable; after the files)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	vals, err := userValues(files, sets)
	if err != nil {
		fmt.Fprintln(stderr, "hookgate-chart:", oneLine(err))
		return 1
	}
	if args[0] == "lint" {
		msgs, err := lintChart(*dir, vals)
		for _, m := range msgs {
			fmt.Fprintln(stdout, oneLine(m))
		}
		if err != nil {
			fmt.Fprintln(stderr, "hookgate-chart:", oneLine(err))
			return 1
		}
		return 0
	}
	out, err := render(*dir, vals)
	if err == nil {
		_, err = decodeAll(out)
	}
	if err != nil {
		fmt.Fprintln(stderr, "hookgate-chart:", oneLine(err))
		return 1
	}
	for _, name := range sortedManifests(out) {
		fmt.Fprintf(stdout, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(out[name]))
	}
	return 0
}

// userValues reads the values files in order, each merged over the last,
// then applies the --set expressions.
func userValues(files, sets []string) (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		vals = util.MergeTables(m, vals)
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	return vals, nil
}

// render loads the chart at dir and renders it with vals over its
// values.yaml, after checking the result against values.schema.json, as
// helm template does. The map is manifest path -> text; files that render
// empty and NOTES.txt are left out.
func render(dir string, vals map[string]any) (map[string]string, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, which %s is not", c, caps.KubeVersion.String())
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, valuesError(err)
	}
	out, err := engine.Engine{Strict: false}.Render(ch, top)
	if err != nil {
		return nil, err
	}
	for name, text := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(stripComments(text)) == "" {
			delete(out, name)
		}
	}
	return out, nil
}

// lintChart runs Helm's linter on the chart at dir with vals; the error
// lists the warnings and errors (information is returned, not failed on).
func lintChart(dir string, vals map[string]any) ([]support.Message, error) {
	res := lint.RunAll(dir, vals, namespace, lint.WithKubeVersion(kubeVersion))
	var bad []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			bad = append(bad, m.Error())
		}
	}
	if len(bad) > 0 {
		return res.Messages, fmt.Errorf("lint: %s", strings.Join(bad, "; "))
	}
	return res.Messages, nil
}

// valuesError shortens Helm's schema error, a header and then one
// finding a line ("- at '/replicaCount': got string, want integer"), to
// its findings.
func valuesError(err error) error {
	var findings []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
			findings = append(findings, strings.Replace(f, "at '':", "at '/':", 1))
		}
	}
	if len(findings) == 0 {
		return err
	}
	return fmt.Errorf("values.schema.json: %s", strings.Join(findings, "; "))
}

var spaces = regexp.MustCompile(`\s*\n\s*`)

// oneLine is err's text on one line.
func oneLine(err error) string {
	return spaces.ReplaceAllString(strings.TrimSpace(err.Error()), "; ")
}

// stripComments drops whole-line YAML comments.
func stripComments(text string) string {
	var keep []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func sortedManifests(out map[string]string) []string {
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
