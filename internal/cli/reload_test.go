package cli

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/deliver"
)

const reloadBase = `
server: {listen: "127.0.0.1:18080"}
admin: {listen: "%ADMIN%", token: "%TOKEN%"}
store: {path: "%DATA%"}
sources:
  shop: {provider: iimmpact, secrets: ["k"]}
subscribers:
  a: {url: "http://127.0.0.1:1/x", secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="}
`

// testReloader loads reloadBase with the admin listener and token given,
// on an embedded store, and returns its reloader, its ingester and a
// function that rewrites the file with another admin listener and token.
func testReloader(t *testing.T, admin, token string) (*reloader, *gateway.Ingester, func(admin, token string)) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(admin, token string) {
		s := strings.NewReplacer("%ADMIN%", admin, "%TOKEN%", token, "%DATA%", filepath.Join(dir, "data")).Replace(reloadBase)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(admin, token)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng := deliver.New(store, cfg.Subscribers, deliver.Options{})
	in, err := gateway.NewIngester(cfg, store, gateway.IngesterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return newReloader(path, cfg, [32]byte{}, in, eng, slog.New(slog.NewTextHandler(io.Discard, nil))), in, write
}

func TestReloadPinsRestartOnlySettings(t *testing.T) {
	r, in, write := testReloader(t, "0.0.0.0:19091", "tok-123-0123456789")

	// The file moves the admin listener to loopback and drops the token: the
	// listener in use stays public, so the token must stay.
	write("127.0.0.1:19092", "")
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "admin.token") {
		t.Fatalf("Reload dropping the token on a public admin listener: err = %v, want an admin.token error", err)
	}
	if got := in.Config().Admin.Token.Reveal(); got != "tok-123-0123456789" {
		t.Errorf("token in force after refused reload = %q, want tok-123-0123456789", got)
	}

	// A new token on a loopback line is applied, but the listener in force
	// is still the one serving.
	write("127.0.0.1:19092", "tok-456-0123456789")
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	got := in.Config()
	if got.Admin.Token.Reveal() != "tok-456-0123456789" || got.Admin.Listen != "0.0.0.0:19091" {
		t.Errorf("after reload: token %q listen %q, want tok-456-0123456789 and the running 0.0.0.0:19091", got.Admin.Token.Reveal(), got.Admin.Listen)
	}
}

// TestReloadPanicContained: a panic during a reload fails that reload as
// a refused file would (counted, its error shown), the process goes on,
// and the next reload works.
func TestReloadPanicContained(t *testing.T) {
	r, _, _ := testReloader(t, "127.0.0.1:19093", "tok-0123456789abc")
	r.applied = func() { panic("a bug after the config was applied") }
	if err := r.Reload(); !errors.Is(err, gateway.ErrPanicked) {
		t.Fatalf("Reload with a panic: %v, want ErrPanicked", err)
	}
	if ok, failed := r.ReloadCounts(); ok != 0 || failed != 1 {
		t.Errorf("reload counts = %d ok, %d failed; want 0, 1", ok, failed)
	}
	if r.LastReloadError() == "" {
		t.Error("the panicked reload left no error to show")
	}
	r.applied = nil
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload after the panic: %v", err)
	}
	if ok, _ := r.ReloadCounts(); ok != 1 {
		t.Errorf("reloads ok = %d, want 1", ok)
	}
}
