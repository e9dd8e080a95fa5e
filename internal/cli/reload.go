package cli

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// reloader re-reads the config file on SIGHUP or POST /admin/api/reload and
// swaps it in. A file that does not load leaves the config in force alone.
// It implements routes.Reloader.
type reloader struct {
	path     string
	ingester *gateway.Ingester
	engine   engine
	log      *slog.Logger
	level    *slog.LevelVar // set from log.level on each reload; nil: left alone
	now      func() time.Time

	mu       sync.Mutex // one reload at a time
	current  *gateway.Config
	loadedAt time.Time
	lastErr  string
	ok, fail int64 // reloads by result since start
}

func newReloader(path string, cfg *gateway.Config, in *gateway.Ingester, e engine, log *slog.Logger) *reloader {
	return &reloader{path: path, ingester: in, engine: e, log: log, now: time.Now, current: cfg, loadedAt: time.Now()}
}

// Reload loads the file and, if it is valid, hands the subscribers to the
// engine first (so that workers exist before events are routed to them) and
// then the whole config to the ingester. Settings that cannot change while
// running (listeners, store, TLS) keep their old values until a restart;
// each one that differs is logged.
func (r *reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := gateway.LoadConfig(r.path)
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
		r.log.Error("reload failed, keeping the config in force", "error", err)
		return err
	}
	r.current, r.loadedAt, r.lastErr = cfg, r.now(), ""
	r.ok++
	if r.level != nil {
		r.level.Set(logLevel(cfg.Log.Level))
	}
	r.log.Info("config reloaded", "path", r.path,
		"sources", len(cfg.Sources), "subscribers", len(cfg.Subscribers))
	for _, w := range devSecretWarnings(cfg) {
		r.log.Warn(w)
	}
	return nil
}

// pinRestartOnly keeps, in next, the settings a reload cannot apply
// (listeners, TLS, store), so that the config in force says what is really
// running, and logs each one that the file changed. Values are not logged:
// the Redis URL can hold a password. It refuses a file that drops the admin
// token while the admin listener in use is not loopback: the file's own
// admin.listen, which validation judged, is not the one serving.
func (r *reloader) pinRestartOnly(next *gateway.Config) error {
	old := r.current
	if next.Admin.Token == "" && !gateway.Loopback(old.Admin.Listen) {
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
	if !sameStore(old.Store, next.Store) {
		keys = append(keys, "store")
	}
	if len(keys) > 0 {
		r.log.Warn("reload: these settings take effect only after a restart", "keys", keys)
	}
	next.Server.Listen, next.Server.TLS = old.Server.Listen, old.Server.TLS
	next.Admin.Listen, next.Store = old.Admin.Listen, old.Store
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
