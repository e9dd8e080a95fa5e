package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bigProduct is a product event whose data carries pad bytes, so that a
// small disk fills in a few hundred events.
func bigProduct(i, pad int) iimmpactEvent {
	e := product(fmt.Sprintf("FD%05d", i), i)
	e.Data = json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", pad)))
	return e
}

// TestFullDiskEmbedded runs the gateway on the embedded store in a 4 MB
// tmpfs and sends until the disk is full, with a subscriber taking
// deliveries: the full disk answers 503 (never 200, never a hang), and so
// does /readyz, while the process lives; once the tmpfs is remounted
// larger, ingest answers 200 again by itself, and every event answered
// 200 reaches the subscriber. Mounting needs root (or CAP_SYS_ADMIN): the
// test is skipped without it, and gateway/boltstore's TestFullDiskRlimit
// covers a full disk for the store everywhere.
func TestFullDiskEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	w := newWorld(t, embedded)
	w.store = map[string]any{"path": dir}
	a := newRecorder(t, "a", 1)
	w.subscribe("a", sub{rec: a, timeout: "2s"}) // leases of 14s: a lost Record's delivery comes back soon
	g := w.start()

	var (
		mu       sync.Mutex
		accepted []string
		refused  []time.Duration // how long each 503 took
		others   []string
	)
	var next atomic.Int64
	var stop atomic.Bool
	send := func() {
		for !stop.Load() {
			i := int(next.Add(1))
			e := bigProduct(i, 16<<10)
			start := time.Now()
			code, body, err := g.sendIimmpact(iimmpactSecret, e.body())
			took := time.Since(start)
			mu.Lock()
			switch {
			case err == nil && code == http.StatusOK:
				accepted = append(accepted, "product/"+e.ID)
			case err == nil && code == http.StatusServiceUnavailable:
				refused = append(refused, took)
			default:
				others = append(others, fmt.Sprintf("%d %q %v", code, body, err))
			}
			mu.Unlock()
		}
	}
	counts := func() (ok, no int) {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted), len(refused)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); send() }()
	}
	waitFor(t, 60*time.Second, "a 503 from the full disk", func() (bool, string) {
		ok, no := counts()
		return no > 0, fmt.Sprintf("%d accepted, %d refused", ok, no)
	})
	time.Sleep(2 * time.Second) // the full disk under load, for a while
	waitFor(t, 10*time.Second, "/readyz 503 on the full disk", func() (bool, string) {
		code := g.readyz()
		return code == http.StatusServiceUnavailable, fmt.Sprintf("/readyz %d", code)
	})
	ok, no := counts()
	mu.Lock()
	slowest := time.Duration(0)
	for _, d := range refused {
		slowest = max(slowest, d)
	}
	mu.Unlock()
	t.Logf("full disk: %d accepted before, %d answered 503 (the slowest in %v)", ok, no, slowest)

	remounted := time.Now()
	if out, err := exec.Command("mount", "-o", "remount,size=256m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount larger: %v: %s", err, out)
	}
	waitFor(t, 30*time.Second, "200 again once there is space", func() (bool, string) {
		n, _ := counts()
		return n > ok, fmt.Sprintf("%d accepted", n)
	})
	t.Logf("first 200 %v after the remount", time.Since(remounted).Round(time.Millisecond))
	stop.Store(true)
	wg.Wait()
	if code := g.readyz(); code != http.StatusOK {
		t.Errorf("/readyz once writes succeed again: %d, want 200", code)
	}
	if len(others) > 0 {
		t.Errorf("%d answers neither 200 nor 503, e.g. %s", len(others), others[0])
	}
	if !strings.Contains(g.output(), "disk full") {
		t.Errorf("the log does not say the disk is full")
	}
	a.waitSubjects(t, accepted, 120*time.Second)
	got, dup := a.counts()
	t.Logf("delivered %d distinct of %d accepted, %d duplicates", got, len(accepted), dup)
	g.stop()
}

// readyz is the status of g's GET /readyz, 0 on a transport error.
func (g *gateway) readyz() int {
	resp, err := g.client().Get(g.url("/readyz"))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
