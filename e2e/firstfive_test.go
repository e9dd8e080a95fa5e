package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// consumer is a running `hookgate consume` process: the subscriber of the
// README's first five minutes.
type consumer struct {
	t              *testing.T
	addr           string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	exitErr        error // valid once done is closed
}

// startConsumer runs `hookgate consume args...` with env added and waits
// for its "listening on" line.
func startConsumer(t *testing.T, addr string, env []string, args ...string) *consumer {
	t.Helper()
	c := &consumer{t: t, addr: addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(binary(t), append([]string{"consume", "-listen", addr}, args...)...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start consume: %v", err)
	}
	go func() {
		c.exitErr = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("--- consume stdout:\n%s\n--- consume stderr:\n%s", tail(c.stdout.String(), 80), tail(c.stderr.String(), 40))
		}
	})
	waitFor(t, 30*time.Second, "consume is listening", func() (bool, string) {
		select {
		case <-c.done:
			t.Fatalf("consume exited (%v): %s", c.exitErr, c.stderr.String())
		default:
		}
		return strings.Contains(c.stdout.String(), "listening on "+addr+"\n"), c.stdout.String()
	})
	return c
}

// waitOutput waits until consume's stdout contains every one of want.
func (c *consumer) waitOutput(want ...string) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, "consume printed "+strings.Join(want, ", "), func() (bool, string) {
		out := c.stdout.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false, "missing " + w
			}
		}
		return true, ""
	})
}

// stop interrupts consume, as Ctrl-C does, and requires exit status 0.
func (c *consumer) stop() {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("consume did not exit within 30s of SIGINT")
	}
	if c.exitErr != nil {
		c.t.Errorf("consume after SIGINT: %v, want exit status 0", c.exitErr)
	}
}

// deliveredID is the envelope id on consume's verified line for the event
// of typ and subject.
func (c *consumer) deliveredID(typ, subject string) string {
	c.t.Helper()
	m := regexp.MustCompile(`(?m)^--- (evt_\S+) ` + regexp.QuoteMeta(typ+" "+subject) + ` \(signature verified\)$`).
		FindStringSubmatch(c.stdout.String())
	if m == nil {
		c.t.Fatalf("consume shows no verified %s %s:\n%s", typ, subject, c.stdout.String())
	}
	return m[1]
}

// The README's first five minutes on a world's config: `hookgate consume`
// as the subscriber, `hookgate send` as the upstream, the gateway between.
func TestFirstFiveMinutes(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	addr := freeAddr(t)
	w := newWorld(t, embedded)
	w.subscribers["catalog-sync"] = map[string]any{"url": "http://" + addr + "/hooks/catalog", "secret": secret, "retry": fastRetry}
	c := startConsumer(t, addr, nil, "-secret", secret, "-path", "/hooks/catalog")
	g := w.start()

	stdout, stderr, code := run(t, nil, "send", "--source", "iimmpact", "--event", "product.updated", "-config", g.config)
	if code != 0 || !strings.Contains(stdout, "product.updated -> 200 OK") {
		t.Fatalf("send: exit %d, want 0 and a 200\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	c.waitOutput("iimmpact.product.updated product/CELCOM10 (signature verified)\n{\n", `"source": "iimmpact"`)
	id := c.deliveredID("iimmpact.product.updated", "product/CELCOM10")
	g.waitDelivery(t, id, "catalog-sync", "delivered")

	// A delivery nobody signed is refused, and consume says so.
	resp, err := http.Post("http://"+addr+"/hooks/catalog", "application/json", strings.NewReader(`{"id":"evt_forged"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST to consume: %d, want 401", resp.StatusCode)
	}
	waitFor(t, 10*time.Second, "consume logs the refusal", func() (bool, string) {
		return strings.Contains(c.stderr.String(), "refused: no signature"), c.stderr.String()
	})
	c.stop()

	for what, out := range map[string]string{"send": stdout + stderr, "consume": c.stdout.String() + c.stderr.String()} {
		for _, s := range []string{secret, iimmpactOld, iimmpactSecret} {
			if strings.Contains(out, s) {
				t.Errorf("%s printed a secret:\n%s", what, out)
			}
		}
	}
}

// shippedConfig is ./config.yaml with only its addresses, store path and
// development signing secret pinned: fresh loopback ports and a temporary
// directory, so that the walkthrough runs beside anything on 8080/9090/8000.
func shippedConfig(t *testing.T, public, admin, consume string) (path, devSecret string) {
	t.Helper()
	b, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	m := regexp.MustCompile(`\$\{CATALOG_SYNC_SECRET:-(whsec_[^}]+)\}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal("config.yaml has no ${CATALOG_SYNC_SECRET:-whsec_...} default")
	}
	devSecret = m[1]
	for old, repl := range map[string]string{
		"${HOOKGATE_LISTEN:-127.0.0.1:8080}":       public,
		"${HOOKGATE_ADMIN_LISTEN:-127.0.0.1:9090}": admin,
		"${HOOKGATE_STORE_PATH:-./data}":           filepath.Join(t.TempDir(), "data"),
		"http://127.0.0.1:8000/hooks/catalog":      "http://" + consume + "/hooks/catalog",
		m[0]:                                       devSecret,
	} {
		if n := strings.Count(src, old); n != 1 {
			t.Fatalf("config.yaml has %q %d times, want once", old, n)
		}
		src = strings.Replace(src, old, repl, 1)
	}
	path = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, devSecret
}

// The walkthrough with the shipped config.yaml: its dev secrets, its
// catalog-sync subscriber, no admin token; consume takes the secret from
// $HOOKGATE_CONSUME_SECRET.
func TestFirstFiveMinutesShippedConfig(t *testing.T) {
	t.Parallel()
	consumeAddr := freeAddr(t)
	g := &gateway{t: t, name: "shipped-config", listen: freeAddr(t), admin: freeAddr(t)}
	var devSecret string
	g.config, devSecret = shippedConfig(t, g.listen, g.admin, consumeAddr)
	c := startConsumer(t, consumeAddr, []string{"HOOKGATE_CONSUME_SECRET=" + devSecret}, "-path", "/hooks/catalog")
	g.start()

	stdout, stderr, code := run(t, nil, "send", "--source", "iimmpact", "--event", "product.updated", "-config", g.config)
	if code != 0 || !strings.Contains(stdout, "product.updated -> 200 OK") {
		t.Fatalf("send iimmpact: exit %d, want 0 and a 200\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, nil, "send", "-source", "catalog360", "-event", "all", "-config", g.config)
	if lines := strings.Count(stdout, " -> 200 OK"); code != 0 || lines != 10 {
		t.Fatalf("send catalog360 all: exit %d with %d answers 200, want 0 and 10\nstdout: %s\nstderr: %s", code, lines, stdout, stderr)
	}
	c.waitOutput(
		"iimmpact.product.updated product/CELCOM10 (signature verified)",
		"catalog360.assetitem.split ",
		"catalog360.category.deleted ",
	)
	id := c.deliveredID("iimmpact.product.updated", "product/CELCOM10")
	g.waitDelivery(t, id, "catalog-sync", "delivered")

	var page eventPage
	g.adminGet(t, "/admin/api/events?source=iimmpact&limit=5", &page)
	if len(page.Events) != 1 || page.Events[0].ID != id || page.Events[0].Status != "delivered" {
		t.Errorf("GET /admin/api/events?source=iimmpact = %+v, want the one event %s, delivered", page.Events, id)
	}
	// The consumer prints an event before the gateway has recorded its
	// answer: wait for the records.
	waitFor(t, 30*time.Second, "catalog-sync: 11 delivered, none dead", func() (bool, string) {
		s := g.subscribers(t)["catalog-sync"]
		return s.Delivered >= 11 && s.Dead == 0, fmt.Sprintf("%+v", s)
	})
	if strings.Contains(c.stderr.String(), "refused") {
		t.Errorf("consume refused a delivery:\n%s", c.stderr.String())
	}

	// The quick start run again on the same store: step 3 is a new event,
	// delivered too, not a duplicate of the first run.
	stdout, stderr, code = run(t, nil, "send", "--source", "iimmpact", "--event", "product.updated", "-config", g.config)
	if want := `product.updated -> 200 OK {"stored":1,"duplicates":0}`; code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("send iimmpact again: exit %d, want 0 and %s\nstdout: %s\nstderr: %s", code, want, stdout, stderr)
	}
	waitFor(t, 30*time.Second, "catalog-sync: 12 delivered", func() (bool, string) {
		s := g.subscribers(t)["catalog-sync"]
		return s.Delivered >= 12 && s.Dead == 0, fmt.Sprintf("%+v", s)
	})
	// Things to try next: the identical body twice with -same, the second
	// a duplicate. -same stamps the quarter hour: a pair that straddles
	// one is sent again.
	for pair := 1; ; pair++ {
		var outs []string
		for range 2 {
			stdout, stderr, code = run(t, nil, "send", "--source", "iimmpact", "--event", "product.updated", "-same", "-config", g.config)
			if code != 0 || !strings.Contains(stdout, "product.updated -> 200 OK") {
				t.Fatalf("send -same: exit %d, want 0 and a 200\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			outs = append(outs, stdout)
		}
		if !strings.Contains(outs[0], `{"stored":1,"duplicates":0}`) && pair == 1 {
			t.Fatalf("the first send -same answered %s, want it stored", outs[0])
		}
		if strings.Contains(outs[1], `{"stored":0,"duplicates":1}`) {
			break
		}
		if pair == 2 {
			t.Fatalf("send -same twice answered\n%s%swant stored 1, then duplicates 1", outs[0], outs[1])
		}
	}
	// catalog360 by the type as `hookgate check` prints it.
	stdout, stderr, code = run(t, nil, "send", "-source", "catalog360", "-event", "asset.created", "-config", g.config)
	if want := `asset.created -> 200 OK {"stored":1,"duplicates":0}`; code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("send catalog360 asset.created: exit %d, want 0 and %s\nstdout: %s\nstderr: %s", code, want, stdout, stderr)
	}
	waitFor(t, 30*time.Second, "catalog-sync: 14 delivered", func() (bool, string) {
		s := g.subscribers(t)["catalog-sync"]
		return s.Delivered >= 14 && s.Dead == 0, fmt.Sprintf("%+v", s)
	})
	c.stop()
	g.stop()
}

// A second gateway on the same embedded store gives up at once, saying
// another process holds it; the first goes on serving.
func TestSecondGatewaySameStore(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	first := w.start()
	second := w.gateway()

	// The bound only keeps a hanging second gateway from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary(t), "serve", "-config", second.config).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("the second gateway was still running after a minute:\n%s", out)
	case !errors.As(err, &ee) || ee.ExitCode() == 0:
		t.Fatalf("the second gateway: %v, want a non-zero exit\n%s", err, out)
	}
	for _, want := range []string{"another hookgate process holds this store", "locked"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the second gateway's output lacks %q:\n%s", want, out)
		}
	}

	if code, err := first.getStatus("/readyz"); code != http.StatusOK {
		t.Errorf("first gateway /readyz: %s, want 200", statusDetail(code, err))
	}
	stdout, stderr, code := run(t, nil, "send", "--source", "catalog360", "--event", "assetitem_updated", "-config", first.config)
	if code != 0 || !strings.Contains(stdout, "200 OK") {
		t.Errorf("send to the first gateway: exit %d, want 0 and a 200\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// The lock goes with the process that held it.
	first.stop()
	second.start()
	second.stop()
}
