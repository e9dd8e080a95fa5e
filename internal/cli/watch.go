package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The debounce of the config file watch. A reload waits until the file has
// been quiet for watchQuiet, so that an editor's several writes, or a write
// and a rename, make one reload; a file that never goes quiet (something
// rewriting it in a loop) is still looked at every watchMaxWait.
const (
	watchQuiet   = 250 * time.Millisecond
	watchMaxWait = 2 * time.Second
)

// configWatcher reloads the config when its file changes on disk.
//
// It watches the file's directory, not the file: an editor saves by writing
// a new file and renaming it over the old one, and a Kubernetes ConfigMap
// swaps the ..data symlink its files lead through; a watch on the file
// itself would follow the old inode and go deaf after the first save.
// Events are filtered to the file's name and to a change of where the path
// leads through its symlinks. When the path is a symlink into another
// directory, that directory is watched too, so that an edit of the target
// in place is seen.
//
// Events are debounced (watchQuiet after the last, at most watchMaxWait
// after the first), then the reloader loads the file if its bytes changed
// since the last load: a save that changes nothing loads and logs nothing.
// Bounded whatever the rate of events: one reload runs at a time and at
// most one more waits (kick); events are never queued.
type configWatcher struct {
	path           string // the config file, absolute and clean
	dir            string // its directory, watched from start to stop
	reload         func() (tried bool, err error)
	log            *slog.Logger
	quiet, maxWait time.Duration
	now            func() time.Time
	// after is time.After; tests fire the debounce themselves.
	after func(time.Duration) <-chan time.Time

	fs       *fsnotify.Watcher
	kick     chan struct{} // capacity 1: the one reload that may wait
	done     chan struct{} // closed by stop
	stopOnce sync.Once
	wg       sync.WaitGroup

	// Owned by the loop goroutine once started.
	target    string // where path led at the last look; "" when nowhere
	targetDir string // target's directory
	extra     string // targetDir when it is watched besides dir

	// Test hooks, nil in production: called with every event read, and
	// after every look at the file.
	onEvent func(fsnotify.Event)
	onCheck func(tried bool, err error)
}

// watchConfig starts watching the config file at path for r. A watch that
// cannot start (no inotify instance left, an unreadable directory) is
// logged as a warning and nil is returned: serve goes on, reloading on
// SIGHUP and POST /admin/api/reload only. stop on nil does nothing.
func watchConfig(path string, r *reloader, log *slog.Logger) *configWatcher {
	w, err := newConfigWatcher(path, func() (bool, error) { return r.reload("file", true) }, log)
	if err != nil {
		log.Warn("config file not watched; reload with SIGHUP or POST /admin/api/reload", "path", path, "error", err)
		return nil
	}
	w.start()
	log.Debug("watching the config file", "path", w.path, "dir", w.dir)
	return w
}

// newConfigWatcher sets up the watch of path's directory, not yet started.
func newConfigWatcher(path string, reload func() (bool, error), log *slog.Logger) (*configWatcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch config: %w", err)
	}
	w := &configWatcher{
		path:    abs,
		dir:     filepath.Dir(abs),
		reload:  reload,
		log:     log,
		quiet:   watchQuiet,
		maxWait: watchMaxWait,
		now:     time.Now,
		after:   time.After,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if w.fs, err = fsnotify.NewWatcher(); err != nil {
		return nil, fmt.Errorf("watch config: %w", err)
	}
	if err := w.fs.Add(w.dir); err != nil {
		w.fs.Close()
		return nil, fmt.Errorf("watch config directory %s: %w", w.dir, err)
	}
	w.follow()
	return w, nil
}

// start runs the watch. Its first look at the file catches a save made
// between the config's first load and the watch.
func (w *configWatcher) start() {
	w.kick <- struct{}{}
	w.wg.Add(2)
	go w.loop()
	go w.work()
}

// stop ends the watch and waits for a reload under way, so that none
// reaches a stopping engine. Safe on nil and more than once.
func (w *configWatcher) stop() {
	if w == nil {
		return
	}
	w.stopOnce.Do(func() {
		close(w.done)
		w.fs.Close()
		w.wg.Wait()
	})
}

// loop reads the events and debounces them into kicks.
func (w *configWatcher) loop() {
	defer w.wg.Done()
	var (
		fire  <-chan time.Time // non-nil while a look at the file is due
		first time.Time        // the first event since the last look
	)
	due := func() {
		now := w.now()
		if fire == nil {
			first = now
		}
		fire = w.after(debounceWait(first, now, w.quiet, w.maxWait))
	}
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.onEvent != nil {
				w.onEvent(ev)
			}
			if w.relevant(ev) {
				due()
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Some events were lost: look at the file anyway; the
				// content check makes that free if nothing changed.
				w.log.Warn("config watch: events lost, looking at the file", "error", err)
				due()
				continue
			}
			w.log.Warn("config watch", "error", err)
		case <-fire:
			fire = nil
			select {
			case w.kick <- struct{}{}:
			default: // a look is already waiting; it will see this change too
			}
		}
	}
}

// work runs the reloads the loop asks for, one at a time.
func (w *configWatcher) work() {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		case <-w.kick:
		}
		select {
		case <-w.done:
			return
		default:
		}
		tried, err := w.reload()
		if w.onCheck != nil {
			w.onCheck(tried, err)
		}
	}
}

// debounceWait is how long to wait, at now, before looking at the file:
// quiet after the latest event, but never later than maxWait after first,
// the first event not yet looked at.
func debounceWait(first, now time.Time, quiet, maxWait time.Duration) time.Duration {
	if rest := first.Add(maxWait).Sub(now); rest < quiet {
		return max(rest, 0)
	}
	return quiet
}

// relevant reports whether ev may have changed the config: an event on the
// file's name or on the file its symlinks lead to, or any event after which
// the path leads elsewhere (a ConfigMap's ..data swapped).
func (w *configWatcher) relevant(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.log.Warn("config watch: the directory was removed or moved; file changes are no longer followed (SIGHUP and POST /admin/api/reload still reload)", "dir", w.dir)
		return false
	}
	hit := name == w.path || (w.target != "" && name == w.target)
	if !hit && w.target == w.path {
		// A plain file: only an event on its own name can change it or
		// make it a symlink. Others (a log file written beside it) cost
		// no lookup.
		return false
	}
	return w.follow() || hit
}

// follow looks where path leads now and reports whether that changed; it
// then moves the watch of the target's directory along.
func (w *configWatcher) follow() bool {
	target, err := filepath.EvalSymlinks(w.path)
	if err != nil {
		target = "" // missing for now: an editor between rename and write
	}
	if target == w.target {
		return false
	}
	w.target = target
	dir := ""
	if target != "" {
		dir = filepath.Dir(target)
	}
	if dir == w.targetDir {
		return true
	}
	w.targetDir = dir
	if w.extra != "" {
		// The old target's directory may be gone already (a ConfigMap
		// deletes it after the swap); then so is its watch.
		_ = w.fs.Remove(w.extra)
		w.extra = ""
	}
	if dir == "" || sameFile(dir, w.dir) {
		return true
	}
	if err := w.fs.Add(dir); err != nil {
		w.log.Warn("config watch: cannot watch the directory the config's symlink leads to; edits there are not followed", "dir", dir, "error", err)
		return true
	}
	w.extra = dir
	return true
}

// sameFile reports whether a and b name the same file (a directory reached
// through a symlink and by its own name).
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}
