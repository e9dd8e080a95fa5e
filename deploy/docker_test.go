package deploy

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/config"
	_ "github.com/hookgate/hookgate/plugins" // the providers the config names
)

// Docker is not needed here: the Dockerfile, .dockerignore and the
// image's config.yaml (scripts/image-config.sh) are checked as files.

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, HEALTHCHECK
	args string
}

// parseDockerfile reads the instructions of the file at p, without
// comments, a trailing backslash joining a line to the next.
func parseDockerfile(t *testing.T, p string) []instruction {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		cont := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
		cur.WriteString(" ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

// execForm parses a JSON array ("exec form") argument, failing the test
// for the shell form: the distroless image has no shell.
func execForm(t *testing.T, what, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("%s %q: want the exec form, a JSON array (distroless has no shell)", what, s)
	}
	return argv
}

// TestDockerfile: the final stage has a HEALTHCHECK running `hookgate
// health` in exec form with the entrypoint's binary, within a timeout
// longer than the command's own (5s, so that it reports its reason); the
// version comes in as a build arg; the image's config.yaml is made by
// scripts/image-config.sh and is where HOOKGATE_CONFIG points.
func TestDockerfile(t *testing.T) {
	all := parseDockerfile(t, "../Dockerfile")
	last := 0
	for i, in := range all {
		if in.cmd == "FROM" {
			last = i
		}
	}
	build, final := all[:last], all[last:]
	get := func(ins []instruction, cmd string) []instruction {
		var out []instruction
		for _, in := range ins {
			if in.cmd == cmd {
				out = append(out, in)
			}
		}
		return out
	}

	entry := get(final, "ENTRYPOINT")
	if len(entry) != 1 {
		t.Fatalf("final stage has %d ENTRYPOINT, want 1", len(entry))
	}
	bin := execForm(t, "ENTRYPOINT", entry[0].args)[0]
	hc := get(final, "HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("final stage has %d HEALTHCHECK, want 1", len(hc))
	}
	opts, cmd, ok := strings.Cut(hc[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q: want CMD [...]", hc[0].args)
	}
	if argv := execForm(t, "HEALTHCHECK CMD", cmd); len(argv) < 2 || argv[0] != bin || argv[1] != "health" {
		t.Errorf("HEALTHCHECK CMD %q: want [%q, \"health\", ...]", argv, bin)
	}
	timeout := 30 * time.Second // Docker's default
	for _, o := range strings.Fields(opts) {
		if v, ok := strings.CutPrefix(o, "--timeout="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("HEALTHCHECK %s: %v", o, err)
			}
			timeout = d
		}
	}
	if timeout <= 5*time.Second {
		t.Errorf("HEALTHCHECK --timeout=%s: want more than hookgate health's own 5s, so that it reports why", timeout)
	}

	var hasArg, usesArg, makesConfig bool
	for _, in := range build {
		hasArg = hasArg || (in.cmd == "ARG" && strings.HasPrefix(in.args, "VERSION"))
		usesArg = usesArg || (in.cmd == "RUN" && strings.Contains(in.args, "internal/cli.Version=${VERSION}"))
		makesConfig = makesConfig || (in.cmd == "RUN" && strings.Contains(in.args, "scripts/image-config.sh config.yaml > /out/config.yaml"))
	}
	if !hasArg || !usesArg {
		t.Errorf("build stage: ARG VERSION %v, -X ...internal/cli.Version=${VERSION} %v; want both", hasArg, usesArg)
	}
	if !makesConfig {
		t.Error("build stage does not make /out/config.yaml with scripts/image-config.sh")
	}
	var copied bool
	for _, in := range get(final, "COPY") {
		copied = copied || strings.HasSuffix(in.args, "/out/config.yaml /etc/hookgate/config.yaml")
	}
	env := dockerEnv(final)
	if !copied || env["HOOKGATE_CONFIG"] != "/etc/hookgate/config.yaml" {
		t.Errorf("config copied to /etc/hookgate/config.yaml %v, HOOKGATE_CONFIG=%q; want both", copied, env["HOOKGATE_CONFIG"])
	}
}

// dockerEnv is the ENV KEY=VALUE pairs of ins.
func dockerEnv(ins []instruction) map[string]string {
	env := map[string]string{}
	for _, in := range ins {
		if in.cmd != "ENV" {
			continue
		}
		for _, kv := range strings.Fields(in.args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	return env
}

// imageConfig runs scripts/image-config.sh on the file at p.
func imageConfig(t *testing.T, p string) ([]byte, error) {
	t.Helper()
	out, err := exec.Command("sh", "../scripts/image-config.sh", p).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Logf("image-config.sh %s: %s", p, ee.Stderr)
	}
	return out, err
}

// TestImageConfig: the image's config.yaml, under the Dockerfile's ENV and
// the variables an operator sets, loads; its admin listener is on loopback
// (private, and where the HEALTHCHECK dials); no subscriber is on
// loopback, which in the container would be the container itself; and
// without the operator's variables it refuses to load, naming them.
func TestImageConfig(t *testing.T) {
	data, err := imageConfig(t, "../config.yaml")
	if err != nil {
		t.Fatalf("image-config.sh config.yaml: %v", err)
	}
	all := parseDockerfile(t, "../Dockerfile")
	env := dockerEnv(all)
	operator := map[string]string{
		"IIMMPACT_WEBHOOK_SECRET": "prod-iimmpact-secret",
		"CATALOG360_WEBHOOK_KEY":  "prod-catalog360-key",
		"CATALOG_SYNC_SECRET":     "whsec_cHJvZC1zaWduaW5nLWtleS0zMmJ5dGVzLWxvbmc=",
		"CATALOG_SYNC_URL":        "http://catalog-sync:8000/hooks/catalog",
	}
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if _, err := config.Parse("/etc/hookgate/config.yaml", data, lookup(env)); err == nil {
		t.Error("the image's config loads without the operator's variables; want it refused")
	} else {
		for k := range operator {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("the refusal does not name %s:\n%v", k, err)
			}
		}
	}
	for k, v := range operator {
		env[k] = v
	}
	cfg, err := config.Parse("/etc/hookgate/config.yaml", data, lookup(env))
	if err != nil {
		t.Fatalf("the image's config with the variables set:\n%v", err)
	}
	if !config.Loopback(cfg.Admin.Listen) {
		t.Errorf("admin.listen = %q in the image; want loopback", cfg.Admin.Listen)
	}
	if len(cfg.Subscribers) == 0 {
		t.Fatal("the image's config has no subscriber")
	}
	for name, s := range cfg.Subscribers {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatalf("subscriber %s: %v", name, err)
		}
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h) != nil && (net.ParseIP(h).IsLoopback() || net.ParseIP(h).IsUnspecified()) {
			t.Errorf("subscriber %s at %s: in the container that is the container itself", name, s.URL)
		}
	}

	// The script's own guard: a subscriber on loopback it did not rewrite.
	bad := filepath.Join(t.TempDir(), "config.yaml")
	src := strings.Replace(string(must(os.ReadFile("../config.yaml"))), "http://127.0.0.1:8000/hooks/catalog", "http://localhost:9000/hooks", 1)
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := imageConfig(t, bad); err == nil {
		t.Error("image-config.sh accepted a subscriber at localhost; want it refused")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestDockerignore: .dockerignore keeps history, build and test output
// and local data out of the build context, and nothing the build needs.
func TestDockerignore(t *testing.T) {
	raw, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf(".dockerignore %q: exceptions are not understood by this test", line)
			}
			patterns = append(patterns, path.Clean(strings.TrimPrefix(line, "/")))
		}
	}
	ignored := func(p string) bool {
		for _, pat := range patterns {
			// Docker matches a pattern against the path and each of its
			// parent directories; **/ matches any number of them.
			for q := p; q != "." && q != "/"; q = path.Dir(q) {
				if ok, _ := path.Match(pat, q); ok {
					return true
				}
				if rest, ok := strings.CutPrefix(pat, "**/"); ok {
					if m, _ := path.Match(rest, path.Base(q)); m {
						return true
					}
				}
			}
		}
		return false
	}
	for _, p := range []string{".git/HEAD", "bin/hookgate", "data/000001.log", ".bench/run.json",
		"e2e/artifacts/x.log", "cli.test", "internal/cli/cli.test", "cpu.prof", "gateway/mem.prof"} {
		if !ignored(p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "main.go", "config.yaml", "scripts/image-config.sh",
		"internal/cli/health.go", "gateway/store.go", "cmd/hookbench/main.go", "e2e/harness_test.go"} {
		if ignored(p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}
