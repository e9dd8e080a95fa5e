package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// save writes g's config afresh from the world as an editor saves a file:
// a new file in the same directory, renamed over the old one. extra is
// appended (a broken line, say). No signal and no API call follow: the
// gateway watches the file.
func (w *world) save(g *gateway, extra string) {
	w.t.Helper()
	b, err := yaml.Marshal(w.config(g.listen, g.admin))
	if err != nil {
		w.t.Fatalf("marshal config: %v", err)
	}
	f, err := os.CreateTemp(filepath.Dir(g.config), ".config-*.swp")
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := f.Write(append(b, extra...)); err != nil {
		w.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(f.Name(), g.config); err != nil {
		w.t.Fatal(err)
	}
}

// configLines is how many lines the world's config for g has, so that a
// line appended to it has a known number.
func (w *world) configLines(g *gateway) int {
	b, err := yaml.Marshal(w.config(g.listen, g.admin))
	if err != nil {
		w.t.Fatalf("marshal config: %v", err)
	}
	return strings.Count(string(b), "\n")
}

// statusInfo is the part of GET /admin/api/status this test reads.
type statusInfo struct {
	LastReloadError string `json:"last_reload_error"`
	Subscribers     int    `json:"subscribers"`
}

func (g *gateway) status(t testing.TB) statusInfo {
	t.Helper()
	var st statusInfo
	g.adminGet(t, "/admin/api/status", &st)
	return st
}

// flow sends IIMMPACT events to g, one at a time with a short pause, each
// its own subject, until stopped.
type flow struct {
	g       *gateway
	stopped chan struct{}
	once    sync.Once
	done    chan struct{}
	started atomic.Int64 // requests begun; request i has subject product/W<i>

	mu       sync.Mutex
	accepted []int    // indexes answered 200, in order
	problems []string // requests not answered 200
}

func startFlow(t *testing.T, g *gateway) *flow {
	f := &flow{g: g, stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for i := 0; ; i++ {
			select {
			case <-f.stopped:
				return
			default:
			}
			f.started.Store(int64(i + 1))
			code, msg, err := g.sendIimmpact(iimmpactSecret, product(flowID(i), i).body())
			f.mu.Lock()
			if err == nil && code == 200 {
				f.accepted = append(f.accepted, i)
			} else if len(f.problems) < 10 {
				f.problems = append(f.problems, fmt.Sprintf("event %d: got %d %q (%v), want 200", i, code, msg, err))
			}
			f.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(f.stop)
	return f
}

func flowID(i int) string { return fmt.Sprintf("W%05d", i) }

// stop ends the flow and waits for the request under way.
func (f *flow) stop() {
	f.once.Do(func() { close(f.stopped) })
	<-f.done
}

// subjects are the subjects of the accepted events whose index is in
// [from, to).
func (f *flow) subjects(from, to int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, i := range f.accepted {
		if i >= from && i < to {
			out = append(out, "product/"+flowID(i))
		}
	}
	return out
}

func (f *flow) acceptedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.accepted)
}

// Saving config.yaml is enough, as an editor saves it: the file is
// watched. While events flow to A, a save adding B applies: B gets the
// events received after it and none from before, A gets every event
// exactly once. A broken save is refused: routing stays, and the status
// shows the error with the file and line.
func TestWatchSaveAppliesWhileEventsFlow(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		a := newRecorder(t, "a", 1)
		w.subscribe("a", sub{rec: a})
		g := w.start()

		f := startFlow(t, g)
		waitFor(t, 30*time.Second, "events flow to A", func() (bool, string) {
			n, _ := a.counts()
			return n >= 10, fmt.Sprintf("A has %d events", n)
		})

		// Every event answered before the save was routed by the old file.
		before := int(f.started.Load()) - 1
		bRec := newRecorder(t, "b", 1)
		w.subscribe("b", sub{rec: bRec})
		w.save(g, "")
		waitFor(t, 30*time.Second, "the saved file is in force", func() (bool, string) {
			st := g.status(t)
			return st.Subscribers == 2, fmt.Sprintf("status: %+v", st)
		})
		// Every event whose request begins now is routed by the new file.
		after := int(f.started.Load())
		waitFor(t, 30*time.Second, "events flow on after the reload", func() (bool, string) {
			n := f.acceptedCount()
			return len(f.subjects(after, 1<<30)) >= 20, fmt.Sprintf("%d accepted in all", n)
		})
		f.stop()
		f.mu.Lock()
		problems := f.problems
		f.mu.Unlock()
		for _, p := range problems {
			t.Errorf("ingest during the reload: %s", p)
		}

		all := f.subjects(0, 1<<30)
		a.waitSubjects(t, all, 60*time.Second)
		bRec.waitSubjects(t, f.subjects(after, 1<<30), 60*time.Second)
		for _, s := range all {
			if c := a.subjectCopies(s); c != 1 {
				t.Errorf("A got %s %d times, want once", s, c)
			}
		}
		if _, dup := a.counts(); dup != 0 {
			t.Errorf("A got %d duplicate deliveries (same webhook-id), want 0", dup)
		}
		if _, dup := bRec.counts(); dup != 0 {
			t.Errorf("B got %d duplicate deliveries (same webhook-id), want 0", dup)
		}
		for _, s := range f.subjects(0, before) {
			if c := bRec.subjectCopies(s); c != 0 {
				t.Errorf("B got %s, received before it was added, %d times; want none (no backfill)", s, c)
			}
		}

		// A broken save: an unknown key on a known line.
		line := w.configLines(g) + 1
		w.save(g, "bogus_key: 1\n")
		waitFor(t, 30*time.Second, "the broken save is refused", func() (bool, string) {
			st := g.status(t)
			return st.LastReloadError != "", fmt.Sprintf("status: %+v", st)
		})
		st := g.status(t)
		place := fmt.Sprintf("%s:%d", g.config, line)
		if !strings.Contains(st.LastReloadError, place) || !strings.Contains(st.LastReloadError, "bogus_key") {
			t.Errorf("last_reload_error = %q, want %s and the key bogus_key", st.LastReloadError, place)
		}
		if st.Subscribers != 2 {
			t.Errorf("subscribers after a broken save = %d, want 2", st.Subscribers)
		}
		waitFor(t, 30*time.Second, "the failed reload is logged with its place", func() (bool, string) {
			out := g.output()
			return strings.Contains(out, "reload failed") && strings.Contains(out, place), "not in the output yet"
		})
		for i := range 3 {
			g.mustAccept(product(fmt.Sprintf("AFTERBROKEN%d", i), 900+i))
		}
		last := []string{"product/AFTERBROKEN0", "product/AFTERBROKEN1", "product/AFTERBROKEN2"}
		a.waitSubjects(t, last, 30*time.Second)
		bRec.waitSubjects(t, last, 30*time.Second)
	})
}
