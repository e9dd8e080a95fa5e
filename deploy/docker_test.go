package deploy

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
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

// imageUser is the final stage's USER as uid and gid; it must be numeric,
// so that Kubernetes' runAsNonRoot can check it and the docs can name the
// owner a bind-mounted /data needs.
func imageUser(t *testing.T) (uid, gid string) {
	t.Helper()
	all := parseDockerfile(t, "../Dockerfile")
	var user string
	for _, in := range all {
		if in.cmd == "FROM" {
			user = "" // USER of an earlier stage does not carry over
		}
		if in.cmd == "USER" {
			user = in.args
		}
	}
	uid, gid, _ = strings.Cut(user, ":")
	if !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) || !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(gid) {
		t.Fatalf("final stage USER %q: want a numeric uid:gid, not root", user)
	}
	return uid, gid
}

// dockerRuns is every `docker run` command in the fenced blocks of the
// Markdown file at p, continuation lines joined.
func dockerRuns(t *testing.T, p string) []string {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	in := false
	var cur string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			continue
		}
		line = strings.TrimSpace(line)
		if cur != "" || strings.HasPrefix(line, "docker run ") {
			cur += strings.TrimSuffix(line, "\\") + " "
			if !strings.HasSuffix(line, "\\") {
				runs = append(runs, strings.Join(strings.Fields(cur), " "))
				cur = ""
			}
		}
	}
	return runs
}

// TestDockerDocs: what docs/deployment.md and the README say about running
// the image holds for the Dockerfile: the uid a bind-mounted /data must
// belong to is the image's USER (and the owner of its /data); and the
// documented command that publishes the admin listener, under the
// Dockerfile's ENV and the variables it passes, loads a config whose admin
// listens on every interface of the container at the published port, with
// a token, which without the token is refused.
func TestDockerDocs(t *testing.T) {
	uid, gid := imageUser(t)
	all := parseDockerfile(t, "../Dockerfile")
	var owned bool
	for _, in := range all {
		owned = owned || (in.cmd == "COPY" && strings.Contains(in.args, "--chown="+uid+":"+gid) && strings.HasSuffix(in.args, " /data"))
	}
	if !owned {
		t.Errorf("the image's /data is not copied --chown=%s:%s, its USER", uid, gid)
	}
	page := string(must(os.ReadFile("../docs/deployment.md")))
	readme := string(must(os.ReadFile("../README.md")))
	for _, want := range []string{"chown " + uid + ":" + gid + " data", "uid and gid **" + uid + "**", `--user "$(id -u):$(id -g)"`} {
		if !strings.Contains(page, want) {
			t.Errorf("docs/deployment.md does not say %q", want)
		}
	}
	for _, want := range []string{"uid " + uid, "chown " + uid + ":" + gid + " data", "HOOKGATE_ADMIN_LISTEN=0.0.0.0:9090", "-p 127.0.0.1:9090:9090"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}

	var bindMount, admin string
	for _, run := range dockerRuns(t, "../docs/deployment.md") {
		if strings.Contains(run, `-v "$PWD/data:/data"`) && bindMount == "" {
			bindMount = run
		}
		if strings.Contains(run, "HOOKGATE_ADMIN_LISTEN") {
			admin = run
		}
	}
	if bindMount == "" || admin == "" {
		t.Fatalf("docs/deployment.md: bind-mount command %q, admin command %q: want both", bindMount, admin)
	}
	// The admin command: -e VAR=value or -e VAR (from the shell), -p.
	env := dockerEnv(all)
	fields := strings.Fields(admin)
	var published []string
	for i := 0; i+1 < len(fields); i++ {
		switch fields[i] {
		case "-e":
			k, v, ok := strings.Cut(fields[i+1], "=")
			if !ok || v == "…" || strings.HasPrefix(v, "whsec_") {
				v = map[string]string{
					"HOOKGATE_ADMIN_TOKEN":    "0123456789abcdef0123456789abcdef",
					"IIMMPACT_WEBHOOK_SECRET": "prod-iimmpact-secret",
					"CATALOG360_WEBHOOK_KEY":  "prod-catalog360-key",
					"CATALOG_SYNC_SECRET":     "whsec_cHJvZC1zaWduaW5nLWtleS0zMmJ5dGVzLWxvbmc=",
				}[k]
			}
			env[k] = v
		case "-p":
			published = append(published, fields[i+1])
		}
	}
	data, err := imageConfig(t, "../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	cfg, err := config.Parse("/etc/hookgate/config.yaml", data, lookup(env))
	if err != nil {
		t.Fatalf("the documented admin command's config does not load:\n%s\n%v", admin, err)
	}
	host, port, _ := net.SplitHostPort(cfg.Admin.Listen)
	if host != "0.0.0.0" || !slices.Contains(published, "127.0.0.1:"+port+":"+port) || cfg.Admin.Token.Reveal() == "" {
		t.Errorf("admin.listen %s, token set %v, published %v: want every interface, a token, and the port published on the host's loopback",
			cfg.Admin.Listen, cfg.Admin.Token.Reveal() != "", published)
	}
	delete(env, "HOOKGATE_ADMIN_TOKEN")
	if _, err := config.Parse("/etc/hookgate/config.yaml", data, lookup(env)); err == nil || !strings.Contains(err.Error(), "admin.token") {
		t.Errorf("the admin on every interface without a token: %v; want it refused, naming admin.token", err)
	}
}
