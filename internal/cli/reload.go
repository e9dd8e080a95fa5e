package cli

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// reloader re-reads the config file and swaps it in: on SIGHUP, on POST
// /admin/api/reload, and when the file changes on disk (configWatcher); all
// three take the one path, reload. A file that does not load leaves the
// config in force alone. It implements routes.Reloader.
type reloader struct {
	path     string
	ingester *gateway.Ingester
	engine   engine
	log      *slog.Logger
	level    *slog.LevelVar // set from log.level on each reload; nil: left alone
	now      func() time.Time
	// applied, if set, is told after each config put in force (the
	// backfill runner marks the subscribers it names).
	applied func()
	// allowDevSecrets: -allow-dev-secrets (refuseDevSecrets).
	allowDevSecrets bool

	mu       sync.Mutex // one reload at a time
	current  *gateway.Config
	loadedAt time.Time
	// sum is the SHA-256 of the file's bytes at the latest load, good or
	// refused, so that the watcher can tell a save that changed nothing
	// (a touch, an editor's second write) from an edit.
	sum      [sha256.Size]byte
	lastErr  string
	ok, fail int64 // reloads by result since start
}

// newReloader starts from cfg, the config in force, loaded from bytes
// whose SHA-256 is sum (zero when unknown: the watcher's first look then
// loads the file).
func newReloader(path string, cfg *gateway.Config, sum [sha256.Size]byte, in *gateway.Ingester, e engine, log *slog.Logger) *reloader {
	return &reloader{path: path, ingester: in, engine: e, log: log, now: time.Now, current: cfg, loadedAt: time.Now(), sum: sum}
}

// loadConfigFile is config.Load that also returns the SHA-256 of the
// bytes it parsed, which the reloader compares with the file's next state.
// Its errors read as config.Load's: "file:line: key: message".
func loadConfigFile(path string) (*gateway.Config, [sha256.Size]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("read config: %w", err)
	}
	sum := sha256.Sum256(data)
	cfg, err := config.Parse(path, data, nil)
	return cfg, sum, err
}

// Reload is POST /admin/api/reload (routes.Reloader): reload by request.
func (r *reloader) Reload() error {
	_, err := r.reload("api", false)
	return err
}

// reload loads the file and, if it is valid, hands the subscribers to the
// engine first (so that workers exist before events are routed to them) and
// then the whole config to the ingester. Settings that cannot change while
// running (listeners, store, TLS) keep their old values until a restart;
// each one that differs is logged. trigger names the cause in the log
// (SIGHUP, api, file).
//
// With ifChanged (the file watcher), a file holding the same bytes as at
// the latest load, good or refused, is left alone, and a file that is
// missing (an editor between its rename and its write, a deleted file) is
// waited for rather than counted as a failed reload. Requests (SIGHUP, the
// API) always load. tried is false when it left the file alone.
func (r *reloader) reload(trigger string, ifChanged bool) (tried bool, err error) {
	// A panic (in parsing, say) fails this reload and keeps the config in
	// force, as any refused file does.
	defer gateway.Contain("reload", func(e error) { tried, err = true, r.panicked(trigger, e) })
	return r.load(trigger, ifChanged)
}

// panicked records a reload that panicked as a failed one, and hands the
// engine back the subscribers in force in case it had the new ones.
func (r *reloader) panicked(trigger string, err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	func() {
		defer gateway.Contain("reload", nil) // if Update was what panicked
		r.engine.Update(r.current.Subscribers)
	}()
	r.lastErr = err.Error()
	r.fail++
	r.log.Error("reload failed, keeping the config in force", "trigger", trigger, "error", err)
	return err
}

// load is reload, unguarded.
func (r *reloader) load(trigger string, ifChanged bool) (tried bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := os.ReadFile(r.path)
	if ifChanged && errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("config file is missing; keeping the config in force until it is back", "path", r.path)
		return false, nil
	}
	var cfg *gateway.Config
	if err != nil {
		err = fmt.Errorf("read config: %w", err)
	} else {
		sum := sha256.Sum256(data)
		if ifChanged && sum == r.sum {
			return false, nil
		}
		r.sum = sum
		cfg, err = config.Parse(r.path, data, nil)
	}
	if err == nil {
		err = r.pinRestartOnly(cfg)
	}
	if err == nil {
		r.engine.Update(cfg.Subscribers)
		if err = r.ingester.SetConfig(cfg); err != nil {
			r.engine.Update(r.current.Subscribers)
		}
	}
	if err != nil {
		r.lastErr = err.Error()
		r.fail++
		// err reads "file:line: key: message", one line per problem.
		r.log.Error("reload failed, keeping the config in force", "trigger", trigger, "error", err)
		return true, err
	}
	r.current, r.loadedAt, r.lastErr = cfg, r.now(), ""
	if r.applied != nil {
		r.applied()
	}
	if r.level != nil {
		r.level.Set(logLevel(cfg.Log.Level))
	}
	r.ok++ // last: a panic on the way counts as a failure (panicked)
	r.log.Info("config reloaded", "trigger", trigger, "path", r.path,
		"sources", len(cfg.Sources), "subscribers", len(cfg.Subscribers))
	for _, w := range devSecretWarnings(cfg) {
		r.log.Warn(w)
	}
	return true, nil
}

// pinRestartOnly keeps, in next, the settings a reload cannot apply
// (listeners, TLS, store), so that the config in force says what is really
// running, and logs each one that the file changed. Values are not logged:
// the Redis URL can hold a password. It refuses a file that drops the admin
// token while the admin listener in use is not loopback: the file's own
// admin.listen, which validation judged, is not the one serving.
func (r *reloader) pinRestartOnly(next *gateway.Config) error {
	old := r.current
	if err := refuseDevSecrets(next, old.Server.Listen, r.allowDevSecrets); err != nil {
		return err
	}
	if next.Admin.Token == "" && !config.Loopback(old.Admin.Listen) {
		return fmt.Errorf("%s: admin.token: required while the admin listener (%s) is not loopback; admin.listen changes only on restart", r.path, old.Admin.Listen)
	}
	var keys []string
	if old.Server.Listen != next.Server.Listen {
		keys = append(keys, "server.listen")
	}
	if old.Server.TLS != next.Server.TLS {
		keys = append(keys, "server.tls")
	}
	if old.Admin.Listen != next.Admin.Listen {
		keys = append(keys, "admin.listen")
	}
	if old.Admin.TLS != next.Admin.TLS {
		keys = append(keys, "admin.tls")
	}
	if !sameStore(old.Store, next.Store) {
		keys = append(keys, "store")
	}
	if len(keys) > 0 {
		r.log.Warn("reload: these settings take effect only after a restart", "keys", keys)
	}
	next.Server.Listen, next.Server.TLS = old.Server.Listen, old.Server.TLS
	next.Admin.Listen, next.Admin.TLS, next.Store = old.Admin.Listen, old.Admin.TLS, old.Store
	return nil
}

func sameStore(a, b gateway.StoreConfig) bool {
	if (a.Redis == nil) != (b.Redis == nil) {
		return false
	}
	if a.Redis != nil && (a.Redis.URL != b.Redis.URL || a.Redis.MasterName != b.Redis.MasterName ||
		a.Redis.Prefix != b.Redis.Prefix || !slices.Equal(a.Redis.Addrs, b.Redis.Addrs)) {
		return false
	}
	return a.Path == b.Path && a.Retention == b.Retention && a.DedupeWindow == b.DedupeWindow
}

// LoadedAt is when the config in force was loaded.
func (r *reloader) LoadedAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadedAt
}

// LastReloadError is the latest failed reload's error, "" after a success.
func (r *reloader) LastReloadError() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// ReloadCounts is how many reloads succeeded and failed since start.
func (r *reloader) ReloadCounts() (succeeded, failed int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok, r.fail
}
