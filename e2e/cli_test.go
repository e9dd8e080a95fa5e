package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the binary with args and returns its stdout, stderr and exit
// code.
func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run hookgate %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestVersion(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := run(t, nil, "version")
	if code != 0 {
		t.Fatalf("hookgate version: exit %d, want 0; stderr: %s", code, stderr)
	}
	if strings.TrimSpace(stdout) == "" {
		t.Errorf("hookgate version printed nothing on stdout (stderr %q)", stderr)
	}
	// The flag spellings print what the command prints.
	for _, flag := range []string{"--version", "-version"} {
		out, errOut, code := run(t, nil, flag)
		if code != 0 || out != stdout {
			t.Errorf("hookgate %s: exit %d, stdout %q (stderr %q); want 0 and %q", flag, code, out, errOut, stdout)
		}
	}
}

// `hookgate check` on a valid config exits 0 and prints the sources and
// which event types reach which subscriber.
func TestCheckValid(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	products := newRecorder(t, "products", 1)
	options := newRecorder(t, "options", 1)
	w.subscribe("products", sub{rec: products, events: []string{"iimmpact.product.*"}})
	w.subscribe("options", sub{rec: options, events: []string{"iimmpact.option.**"}})
	g := w.gateway()

	stdout, stderr, code := run(t, nil, "check", "-config", g.config)
	if code != 0 {
		t.Fatalf("check: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"iimmpact", "catalog360"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks source %q:\n%s", want, stdout)
		}
	}
	lines := strings.Split(stdout, "\n")
	has := func(words ...string) bool {
		for _, l := range lines {
			all := true
			for _, w := range words {
				all = all && strings.Contains(l, w)
			}
			if all {
				return true
			}
		}
		return false
	}
	if !has("iimmpact.product.updated", "products") {
		t.Errorf("check output has no line routing iimmpact.product.updated to products:\n%s", stdout)
	}
	if !has("iimmpact.option.created", "options") {
		t.Errorf("check output has no line routing iimmpact.option.created to options:\n%s", stdout)
	}
	if has("iimmpact.product.updated", "options") {
		t.Errorf("check output routes iimmpact.product.updated to options, whose pattern does not match:\n%s", stdout)
	}
	for _, secret := range []string{iimmpactSecret, c360Key, adminToken, products.secrets[0]} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("check output shows a secret")
		}
	}
}

// `hookgate check` on a broken config exits 1 and names, for every error,
// the file, the line and the key.
func TestCheckBroken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	secret := newSecret(t)
	lines := []string{
		"server:",                             // 1
		`  listen: "127.0.0.1:8080"`,          // 2
		"  max_bodyy: 5MB",                    // 3: unknown key
		"store:",                              // 4
		fmt.Sprintf("  path: %q", dir),        // 5
		"sources:",                            // 6
		"  iimmpact:",                         // 7
		"    provider: iimmpact",              // 8
		`    secrets: ["${E2E_IIMMPACT}"]`,    // 9
		"subscribers:",                        // 10
		"  search:",                           // 11
		`    url: "http://127.0.0.1:1/hook"`,  // 12
		fmt.Sprintf("    secret: %q", secret), // 13
		"    timeout: soon",                   // 14: not a duration
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, []string{"E2E_IIMMPACT=s3cret-value"}, "check", "-config", path)
	out := stdout + stderr
	if code != 1 {
		t.Fatalf("check of a broken config: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []struct{ line, key string }{{"3", "max_bodyy"}, {"14", "timeout"}} {
		found := false
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "config.yaml:"+want.line) && strings.Contains(l, want.key) {
				found = true
			}
		}
		if !found {
			t.Errorf("check output has no line naming config.yaml:%s and %q:\n%s", want.line, want.key, out)
		}
	}
	if strings.Contains(out, "s3cret-value") || strings.Contains(out, secret) {
		t.Errorf("check output shows a secret:\n%s", out)
	}
}
