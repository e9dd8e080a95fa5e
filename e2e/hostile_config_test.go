package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileYAMLInjection: an environment value expanded into the config
// cannot change the file's shape. yaml.v3 breaks lines on U+2028, U+2029
// and U+0085 as on \n, so a value holding one could add a subscriber
// pointing elsewhere (issue 19 item 7), or inside quotes be folded into
// another value than the one set. Each line break and control character
// is refused, naming the file, the line and the variable, and the value
// is never printed (gateway's TestExpandEnv holds expansion itself to it).
func TestHostileYAMLInjection(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	for _, brk := range []struct{ name, r string }{
		{"LS", "\u2028"}, {"PS", "\u2029"}, {"NEL", "\u0085"}, {"LF", "\n"}, {"CR", "\r"}, {"ESC", "\x1b"},
	} {
		t.Run(brk.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			lines := []string{
				"store:",                             // 1
				fmt.Sprintf("  path: %q", dir),       // 2
				"sources:",                           // 3
				"  iimmpact:",                        // 4
				"    provider: iimmpact",             // 5
				`    secrets: ["0123456789abcdef"]`,  // 6
				"subscribers:",                       // 7
				"  search:",                          // 8
				`    url: "http://127.0.0.1:1/hook"`, // 9
				"    secret: ${E2E_SUB_SECRET}",      // 10: unquoted
			}
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// What the value would add: a subscriber of the attacker's.
			injected := secret + brk.r + "  evil:" + brk.r + `    url: "http://attacker.example/x"` + brk.r + "    secret: " + secret
			stdout, stderr, code := run(t, []string{"E2E_SUB_SECRET=" + injected}, "check", "-config", path)
			out := stdout + stderr
			if code != 1 {
				t.Fatalf("check with a line break in ${E2E_SUB_SECRET}: exit %d, want 1\n%s", code, out)
			}
			if !strings.Contains(out, "config.yaml:10") || !strings.Contains(out, "E2E_SUB_SECRET") {
				t.Errorf("check output names neither config.yaml:10 nor the variable:\n%s", out)
			}
			if strings.Contains(out, secret) || strings.Contains(out, "attacker.example") {
				t.Errorf("check output shows the value:\n%s", out)
			}
		})
	}
}

// TestHostileTestKeyPath: catalog360's registration test is an empty
// events array signed with the public key "test-webhook", so anything
// else signed with that key is refused (401), and a large body is not
// even parsed as one; only the exact ping is answered 200.
func TestHostileTestKeyPath(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.subscribe("all", sub{rec: newRecorder(t, "all", 1)})
	g := w.start()
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"the ping", `{"events":[]}`, http.StatusOK},
		{"empty object", `{}`, http.StatusUnauthorized},
		{"null", `null`, http.StatusUnauthorized},
		{"events null", `{"events":null}`, http.StatusUnauthorized},
		{"duplicate keys", `{"events":[],"events":[{"event_class":"x"}]}`, http.StatusUnauthorized},
		{"an empty batch padded to 5KB", `{"events":[]` + strings.Repeat(" ", 5<<10) + `}`, http.StatusUnauthorized},
		{"one event", string(c360Batch([]c360Event{assetItem("created", 1)})), http.StatusUnauthorized},
	} {
		code, msg, err := g.sendC360("test-webhook", []byte(tc.body))
		if err != nil || code != tc.want {
			t.Errorf("%s signed with test-webhook: got %d %q (%v), want %d", tc.name, code, msg, err, tc.want)
		}
	}
}
