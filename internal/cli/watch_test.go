package cli

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
	"github.com/hookgate/hookgate/gateway/deliver"
)

// watchedConfig is a whole config with one subscriber per name, its store
// outside the watched directory.
func watchedConfig(store string, subs ...string) string {
	var b strings.Builder
	b.WriteString("server: {listen: \"127.0.0.1:18080\"}\n")
	b.WriteString("admin: {listen: \"127.0.0.1:19090\"}\n")
	fmt.Fprintf(&b, "store: {path: %q}\n", store)
	b.WriteString("sources:\n  shop: {provider: iimmpact, secrets: [\"k\"]}\n")
	b.WriteString("subscribers:\n")
	for _, s := range subs {
		fmt.Fprintf(&b, "  %s: {url: \"http://127.0.0.1:1/%s\", secret: \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"}\n", s, s)
	}
	return b.String()
}

// watchRig is a reloader over a real store and engine, and a watcher on
// its config file, with hooks counting what the watcher did.
type watchRig struct {
	t     *testing.T
	dir   string // the watched directory
	path  string // the config path serve would be given
	store string
	logs  *lockedBuffer
	in    *gateway.Ingester
	r     *reloader
	w     *configWatcher
	// fire, when the rig was made with a manual debounce, ends the
	// debounce wait: a look at the file happens only when the test says.
	fire chan time.Time

	checks atomic.Int64 // looks at the file done
	mu     sync.Mutex
	seen   map[string]bool // names of the events read
	last   struct {
		tried bool
		err   error
	}
}

// newWatchRig loads path (written by the caller, possibly through
// symlinks) and starts watching it. manual: the debounce ends only on
// rig.fire; otherwise it is short and real.
func newWatchRig(t *testing.T, dir, path, store string, manual bool) *watchRig {
	t.Helper()
	cfg, sum, err := loadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in, err := gateway.NewIngester(cfg, st, gateway.IngesterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rig := &watchRig{t: t, dir: dir, path: path, store: store, logs: &lockedBuffer{}, in: in, seen: map[string]bool{}}
	log := slog.New(slog.NewTextHandler(rig.logs, nil))
	rig.r = newReloader(path, cfg, sum, in, deliver.New(st, cfg.Subscribers, deliver.Options{}), log)
	w, err := newConfigWatcher(path, func() (bool, error) { return rig.r.reload("file", true) }, log)
	if err != nil {
		t.Fatal(err)
	}
	w.quiet = 20 * time.Millisecond
	if manual {
		rig.fire = make(chan time.Time)
		w.after = func(time.Duration) <-chan time.Time { return rig.fire }
	}
	w.onEvent = func(ev fsnotify.Event) {
		rig.mu.Lock()
		rig.seen[filepath.Base(ev.Name)] = true
		rig.mu.Unlock()
	}
	w.onCheck = func(tried bool, err error) {
		rig.mu.Lock()
		rig.last.tried, rig.last.err = tried, err
		rig.mu.Unlock()
		rig.checks.Add(1)
	}
	rig.w = w
	w.start()
	t.Cleanup(w.stop)
	// The first look at the file, made at start, finds what was loaded.
	rig.waitChecks(1)
	return rig
}

// plainRig is a rig on dir/config.yaml, a plain file with subscriber a.
func plainRig(t *testing.T, manual bool) *watchRig {
	dir := t.TempDir()
	store := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, watchedConfig(store, "a"))
	return newWatchRig(t, dir, path, store, manual)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// save writes content as editors do: a new file in the same directory,
// renamed over the old one.
func save(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), ".config-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond until it holds, failing after a generous deadline;
// no test depends on how fast the watcher is.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so within 30s: %s", what, detail)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (rig *watchRig) subscribers() []string {
	return slices.Sorted(maps.Keys(rig.in.Config().Subscribers))
}

// waitSubscribers waits until the config in force has exactly these
// subscribers.
func (rig *watchRig) waitSubscribers(want ...string) {
	rig.t.Helper()
	waitUntil(rig.t, fmt.Sprintf("subscribers %v in force", want), func() (bool, string) {
		got := rig.subscribers()
		return slices.Equal(got, want), fmt.Sprintf("got %v; log:\n%s", got, rig.logs.String())
	})
}

func (rig *watchRig) waitChecks(n int64) {
	rig.t.Helper()
	waitUntil(rig.t, fmt.Sprintf("%d looks at the file", n), func() (bool, string) {
		got := rig.checks.Load()
		return got >= n, fmt.Sprintf("got %d", got)
	})
}

// settle makes sure the watcher has read every event caused so far: it
// creates a marker file and waits until its event is read (inotify
// reports a directory's events in order).
func (rig *watchRig) settle(marker string) {
	rig.t.Helper()
	writeFile(rig.t, filepath.Join(rig.dir, marker), "")
	waitUntil(rig.t, "the marker's event is read", func() (bool, string) {
		rig.mu.Lock()
		defer rig.mu.Unlock()
		return rig.seen[marker], "not yet"
	})
}

func (rig *watchRig) counts() (ok, failed int64) { return rig.r.ReloadCounts() }

// Writing the file in place (truncate and write) reloads it.
func TestWatchReloadsOnWrite(t *testing.T) {
	rig := plainRig(t, false)
	writeFile(t, rig.path, watchedConfig(rig.store, "a", "b"))
	rig.waitSubscribers("a", "b")
	if ok, failed := rig.counts(); ok != 1 || failed != 0 {
		t.Errorf("reload counts = %d ok, %d failed; want 1, 0", ok, failed)
	}
	if log := rig.logs.String(); !strings.Contains(log, "config reloaded") || !strings.Contains(log, "trigger=file") {
		t.Errorf("log lacks the reload and its trigger:\n%s", log)
	}
}

// A file renamed over the config (how editors save) reloads it, and the
// watch survives: the second save is seen too, which a watch on the
// file's first inode would miss.
func TestWatchReloadsOnRenameOver(t *testing.T) {
	rig := plainRig(t, false)
	save(t, rig.path, watchedConfig(rig.store, "a", "b"))
	rig.waitSubscribers("a", "b")
	save(t, rig.path, watchedConfig(rig.store, "b", "c"))
	rig.waitSubscribers("b", "c")
}

// A Kubernetes ConfigMap volume: config.yaml -> ..data/config.yaml, and
// ..data -> a timestamped directory, swapped atomically on update and the
// old directory deleted. Events name ..data, never config.yaml.
func TestWatchFollowsSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(t.TempDir(), "data")
	version := 0
	swap := func(content string) {
		t.Helper()
		version++
		ts := fmt.Sprintf("..2024_01_0%d", version)
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, ts, "config.yaml"), content)
		if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if version > 1 {
			if err := os.RemoveAll(filepath.Join(dir, fmt.Sprintf("..2024_01_0%d", version-1))); err != nil {
				t.Fatal(err)
			}
		}
	}
	swap(watchedConfig(store, "a"))
	path := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), path); err != nil {
		t.Fatal(err)
	}
	rig := newWatchRig(t, dir, path, store, false)

	swap(watchedConfig(store, "a", "b"))
	rig.waitSubscribers("a", "b")
	swap(watchedConfig(store, "c"))
	rig.waitSubscribers("c")
}

// config.yaml a symlink into another directory: an edit of the target in
// place is seen (its directory is watched too), and so is the link
// pointed elsewhere.
func TestWatchFollowsSymlinkTarget(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	store := filepath.Join(t.TempDir(), "data")
	target := filepath.Join(elsewhere, "hookgate.yaml")
	writeFile(t, target, watchedConfig(store, "a"))
	path := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	rig := newWatchRig(t, dir, path, store, false)

	writeFile(t, target, watchedConfig(store, "a", "b"))
	rig.waitSubscribers("a", "b")

	// ln -sfn, atomically: a new link renamed over the old.
	other := filepath.Join(elsewhere, "other.yaml")
	writeFile(t, other, watchedConfig(store, "c"))
	if err := os.Symlink(other, filepath.Join(dir, "config.yaml.new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "config.yaml.new"), path); err != nil {
		t.Fatal(err)
	}
	rig.waitSubscribers("c")
	writeFile(t, other, watchedConfig(store, "c", "d"))
	rig.waitSubscribers("c", "d")
}

// A broken save is refused whole: the config in force stays, the error
// with file:line and key is logged and is LastReloadError (what GET
// /admin/api/status shows); a fixed save then applies and clears it.
func TestWatchKeepsConfigOnBrokenFile(t *testing.T) {
	rig := plainRig(t, false)
	good := watchedConfig(rig.store, "a", "b")
	line := strings.Count(good, "\n") + 1
	save(t, rig.path, good+"bogus_key: 1\n")
	waitUntil(t, "the broken save is refused", func() (bool, string) {
		_, failed := rig.counts()
		return failed == 1, fmt.Sprintf("%d failed reloads", failed)
	})
	if got := rig.subscribers(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("subscribers after a refused save = %v, want the old [a]", got)
	}
	place := fmt.Sprintf("%s:%d", rig.path, line)
	if got := rig.r.LastReloadError(); !strings.Contains(got, place) || !strings.Contains(got, "bogus_key") {
		t.Errorf("LastReloadError = %q, want %s and the key bogus_key", got, place)
	}
	if log := rig.logs.String(); !strings.Contains(log, "reload failed") || !strings.Contains(log, place) || !strings.Contains(log, "bogus_key") {
		t.Errorf("log lacks the failed reload with %s and bogus_key:\n%s", place, log)
	}

	save(t, rig.path, good)
	rig.waitSubscribers("a", "b")
	if got := rig.r.LastReloadError(); got != "" {
		t.Errorf("LastReloadError after a good save = %q, want empty", got)
	}
	if ok, failed := rig.counts(); ok != 1 || failed != 1 {
		t.Errorf("reload counts = %d ok, %d failed; want 1, 1", ok, failed)
	}
}

// A burst of saves is one reload, of the last content: the debounce is
// ended by hand once every event of the burst has been read.
func TestWatchDebouncesBurst(t *testing.T) {
	rig := plainRig(t, true)
	names := []string{"a"}
	for _, n := range []string{"b", "c", "d", "e"} {
		names = append(names, n)
		save(t, rig.path, watchedConfig(rig.store, names...))
		writeFile(t, rig.path, watchedConfig(rig.store, names...)) // and a second write
	}
	rig.settle("marker")
	rig.fire <- time.Now()
	rig.waitChecks(2)
	rig.waitSubscribers(names...)
	if ok, failed := rig.counts(); ok != 1 || failed != 0 {
		t.Errorf("reload counts after a burst = %d ok, %d failed; want 1, 0", ok, failed)
	}
	if n := strings.Count(rig.logs.String(), "config reloaded"); n != 1 {
		t.Errorf("%d \"config reloaded\" lines after a burst, want 1", n)
	}
}

// A save that changes no byte (touch, the same content written again, an
// editor's second write) is looked at and not loaded: nothing counted,
// nothing logged.
func TestWatchSkipsUnchangedContent(t *testing.T) {
	rig := plainRig(t, true)
	content := watchedConfig(rig.store, "a")
	now := time.Now().Add(time.Minute)
	if err := os.Chtimes(rig.path, now, now); err != nil {
		t.Fatal(err)
	}
	writeFile(t, rig.path, content)
	save(t, rig.path, content)
	rig.settle("marker")
	rig.fire <- time.Now()
	rig.waitChecks(2)
	rig.mu.Lock()
	tried, err := rig.last.tried, rig.last.err
	rig.mu.Unlock()
	if tried || err != nil {
		t.Errorf("look at an unchanged file: tried %v, err %v; want neither", tried, err)
	}
	if ok, failed := rig.counts(); ok != 0 || failed != 0 {
		t.Errorf("reload counts = %d ok, %d failed; want none", ok, failed)
	}
	if log := rig.logs.String(); strings.Contains(log, "reload") {
		t.Errorf("an unchanged file logged a reload:\n%s", log)
	}

	// Explicit requests (SIGHUP, the API) load even so.
	if err := rig.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := rig.counts(); ok != 1 {
		t.Errorf("Reload of an unchanged file: %d ok reloads, want 1", ok)
	}
}

// A file that is gone (an editor between rename and write, a deletion) is
// waited for, not counted as a failed reload; when it is back it loads.
func TestWatchWaitsForMissingFile(t *testing.T) {
	rig := plainRig(t, false)
	if err := os.Remove(rig.path); err != nil {
		t.Fatal(err)
	}
	rig.waitChecks(2)
	if _, failed := rig.counts(); failed != 0 || rig.r.LastReloadError() != "" {
		t.Errorf("a missing file counted as a failed reload (%d, %q)", failed, rig.r.LastReloadError())
	}
	if got := rig.subscribers(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("subscribers while the file is missing = %v, want [a]", got)
	}
	writeFile(t, rig.path, watchedConfig(rig.store, "b"))
	rig.waitSubscribers("b")
}

// A watch that cannot start is a warning and nil; stop on nil is a no-op.
func TestWatchStartFailureIsAWarning(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	path := filepath.Join(t.TempDir(), "missing-dir", "config.yaml")
	w := watchConfig(path, &reloader{path: path, log: log}, log)
	if w != nil {
		w.stop()
		t.Fatalf("watchConfig on a missing directory: got a watcher, want nil")
	}
	w.stop()
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "config file not watched") {
		t.Errorf("log = %q, want a warning that the file is not watched", got)
	}
}

// stop leaves no goroutine of the watch (nor of fsnotify) behind.
func TestWatchStopLeavesNoGoroutine(t *testing.T) {
	rig := plainRig(t, false)
	save(t, rig.path, watchedConfig(rig.store, "a", "b"))
	rig.waitSubscribers("a", "b")
	rig.w.stop()
	// fsnotify's reader goroutine may still be on its way out when Close
	// returns (it wakes from its poll first): left means still there
	// seconds later.
	var stacks, left string
	for deadline := time.Now().Add(5 * time.Second); ; {
		buf := make([]byte, 1<<20)
		stacks, left = string(buf[:runtime.Stack(buf, true)]), ""
		for _, s := range []string{"(*configWatcher)", "fsnotify"} {
			if strings.Contains(stacks, s) {
				left = s
			}
		}
		if left == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left != "" {
		t.Errorf("a goroutine in %s is left after stop:\n%s", left, stacks)
	}
}

func TestDebounceWait(t *testing.T) {
	t0 := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	const quiet, maxWait = 250 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name string
		now  time.Duration // since the first event
		want time.Duration
	}{
		{"first event", 0, quiet},
		{"during a burst", time.Second, quiet},
		{"near the cap", 1900 * time.Millisecond, 100 * time.Millisecond},
		{"at the cap", maxWait, 0},
		{"past the cap", 3 * time.Second, 0},
	}
	for _, tt := range tests {
		if got := debounceWait(t0, t0.Add(tt.now), quiet, maxWait); got != tt.want {
			t.Errorf("%s: debounceWait = %v, want %v", tt.name, got, tt.want)
		}
	}
}
