package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// log: {level: debug, format: json}: every line is JSON, the debug lines
// (an ingest decision, a delivered attempt) appear, a refusal is logged at
// info, and no secret is in any line. A reload to level info stops the
// debug lines without a restart.
func TestLogs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.log = map[string]any{"level": "debug", "format": "json"}
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	g.mustAccept(product("LOG1", 1))
	r.waitSubjects(t, []string{"product/LOG1"}, 30*time.Second)
	if code, _, err := g.sendIimmpact("not-the-secret", product("LOG2", 2).body()); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("badly signed event: %d (%v), want 401", code, err)
	}
	msgs := func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(g.output()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			out = append(out, m)
		}
		return out
	}
	has := func(ms []map[string]any, msg, level string) bool {
		for _, m := range ms {
			if m["msg"] == msg && m["level"] == level {
				return true
			}
		}
		return false
	}
	// Lines reach the test through the child's stderr pipe, in their own
	// time: wait for the last of them.
	waitFor(t, 10*time.Second, "the delivered and refusal lines", func() (bool, string) {
		ms := msgs()
		return has(ms, "delivered", "DEBUG") && has(ms, "request refused", "INFO"), "not all in the log yet"
	})
	ms := msgs()
	for _, want := range []struct{ msg, level string }{
		{"ingest accepted", "DEBUG"}, {"delivered", "DEBUG"}, {"request refused", "INFO"},
	} {
		if !has(ms, want.msg, want.level) {
			t.Errorf("no %s line %q in the log", want.level, want.msg)
		}
	}
	for _, secret := range append([]string{iimmpactSecret, iimmpactOld, c360Key, adminToken}, r.secrets...) {
		if strings.Contains(g.output(), secret) {
			t.Errorf("a secret is in the log")
		}
	}

	// Down to info by a reload: no more debug lines.
	w.log["level"] = "info"
	w.rewrite(g)
	if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code != http.StatusOK {
		t.Fatalf("reload: got %s, want 200", statusDetail(code, err))
	}
	before := len(msgs())
	g.mustAccept(product("LOG3", 3))
	r.waitSubjects(t, []string{"product/LOG3"}, 30*time.Second)
	for _, m := range msgs()[before:] {
		if m["level"] == "DEBUG" {
			t.Errorf("debug line after the reload to info: %v", m)
		}
	}
}
