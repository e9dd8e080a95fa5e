package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const unitPath = "systemd/hookgate.service"

// unit is a systemd unit file: section, key, every value in file order
// (a key such as Environment= may repeat).
type unit map[string]map[string][]string

// parseUnit reads a unit file: [Section] headers, Key=Value lines, # and ;
// comments, a trailing backslash joining a line to the next.
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	var pending string
	for n, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if pending == "" && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: %q is neither [Section] nor Key=Value in a section", path, n+1, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u
}

// last is the value in force for a key set once or more: the last one.
func (u unit) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// TestSystemdUnit: the unit runs hookgate serve on /etc/hookgate/config.yaml
// as a dynamic user with its state directory, read-only elsewhere, no
// privilege gain, restarted on failure, 65536 files, secrets from an
// EnvironmentFile, SIGHUP to reload, and a stop timeout longer than
// -grace, so that systemd does not kill a shutdown the gateway would have
// finished.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, unitPath)
	for _, want := range []struct{ key, value string }{
		{"DynamicUser", "yes"},
		{"StateDirectory", "hookgate"},
		{"ProtectSystem", "strict"},
		{"NoNewPrivileges", "yes"},
		{"Restart", "on-failure"},
		{"LimitNOFILE", "65536"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
	} {
		if got := u.last("Service", want.key); got != want.value {
			t.Errorf("[Service] %s=%q, want %q", want.key, got, want.value)
		}
	}

	argv := strings.Fields(u.last("Service", "ExecStart"))
	if len(argv) < 2 || !filepath.IsAbs(argv[0]) || filepath.Base(argv[0]) != "hookgate" || argv[1] != "serve" {
		t.Fatalf("ExecStart=%q: want /ABSOLUTE/PATH/hookgate serve ...", argv)
	}
	flags := map[string]string{}
	for i := 2; i+1 < len(argv); i += 2 {
		flags[argv[i]] = argv[i+1]
	}
	if flags["-config"] != "/etc/hookgate/config.yaml" {
		t.Errorf("ExecStart -config %q, want /etc/hookgate/config.yaml", flags["-config"])
	}
	grace := 25 * time.Second // serve's default
	if g, ok := flags["-grace"]; ok {
		var err error
		if grace, err = time.ParseDuration(g); err != nil {
			t.Fatalf("ExecStart -grace %q: %v", g, err)
		}
	}
	stop, err := time.ParseDuration(u.last("Service", "TimeoutStopSec"))
	if err != nil || stop <= grace {
		t.Errorf("TimeoutStopSec=%q (%v): want a duration above -grace %s", u.last("Service", "TimeoutStopSec"), err, grace)
	}

	envFiles := u["Service"]["EnvironmentFile"]
	if len(envFiles) == 0 || !strings.HasPrefix(strings.TrimPrefix(envFiles[0], "-"), "/etc/hookgate/") {
		t.Errorf("EnvironmentFile=%q: want the secrets from a file under /etc/hookgate/", envFiles)
	}
	env := map[string]string{}
	for _, e := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(e) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	// The embedded store must be in the one writable place.
	if env["HOOKGATE_STORE_PATH"] != "/var/lib/hookgate" {
		t.Errorf("Environment HOOKGATE_STORE_PATH=%q, want /var/lib/hookgate (StateDirectory)", env["HOOKGATE_STORE_PATH"])
	}
	if got := u.last("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q, want multi-user.target", got)
	}
}

// TestSystemdVerify: systemd-analyze verify accepts the unit, with no
// warning about it (it exits 0 on an unknown key or a bad value, printing
// them). It checks that ExecStart's binary exists, so the unit is verified
// as a copy naming a freshly built hookgate.
func TestSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (%v): install Debian's systemd package, as scripts/deps.sh does", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hookgate")
	build := exec.Command("go", "build", "-o", bin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unitCopy := filepath.Join(dir, "hookgate.service")
	if err := os.WriteFile(unitCopy, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/hookgate", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", unitCopy)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.Contains(line, "hookgate.service"):
			t.Errorf("systemd-analyze verify: %s", line)
		case line != "":
			t.Logf("systemd-analyze verify (not about the unit): %s", line)
		}
	}
}
