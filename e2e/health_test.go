package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// `hookgate health` against a real gateway: exit 0 while /readyz is 200
// (the URL taken from the config's admin listener, or given with -url);
// exit 1 with one line within -timeout when the process is frozen
// (SIGSTOP: the kernel still accepts connections, nobody answers) and
// when it is gone.
func TestHealthCommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.subscribe("products", sub{rec: newRecorder(t, "products", 1), events: []string{"iimmpact.product.*"}})
	g := w.gateway()
	g.start()

	oneLine := func(t *testing.T, stderr string) {
		t.Helper()
		if strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") != 0 {
			t.Errorf("stderr has more than one line:\n%s", stderr)
		}
	}

	stdout, stderr, code := run(t, g.env, "health", "-config", g.config)
	if code != 0 || !strings.Contains(stdout, "http://"+g.admin+"/readyz: 200 OK") {
		t.Fatalf("health -config: exit %d, stdout %q, stderr %q; want 0 and 200 OK from %s", code, stdout, stderr, g.admin)
	}
	stdout, stderr, code = run(t, nil, "health", "-url", "http://"+g.admin+"/readyz")
	if code != 0 {
		t.Fatalf("health -url: exit %d, stdout %q, stderr %q; want 0", code, stdout, stderr)
	}

	g.signal(syscall.SIGSTOP)
	start := time.Now()
	_, stderr, code = run(t, g.env, "health", "-config", g.config, "-timeout", "500ms")
	took := time.Since(start)
	g.signal(syscall.SIGCONT)
	if code != 1 || !strings.Contains(stderr, "no answer within 500ms") {
		t.Errorf("health on a frozen gateway: exit %d, stderr %q; want 1 and no answer within 500ms", code, stderr)
	}
	oneLine(t, stderr)
	if took > 10*time.Second {
		t.Errorf("health on a frozen gateway took %s; want it bounded by -timeout", took)
	}

	g.stop()
	_, stderr, code = run(t, g.env, "health", "-config", g.config)
	if code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Errorf("health on a stopped gateway: exit %d, stderr %q; want 1 and connection refused", code, stderr)
	}
	oneLine(t, stderr)
}
