package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookgate/hookgate/plugins/iimmpact"
)

const (
	serveSecret = "serve-test-secret"
	serveToken  = "serve-test-admin-token"
)

// serveConfig is a whole config.yaml on loopback port 0, embedded store;
// extra is appended under subscribers.
func serveConfig(dir, subURL, extra string) string {
	return `server:
  listen: "127.0.0.1:0"
admin:
  listen: "127.0.0.1:0"
  token: "` + serveToken + `"
store:
  path: "` + filepath.Join(dir, "data") + `"
sources:
  shop:
    provider: iimmpact
    secrets: ["` + serveSecret + `"]
subscribers:
  indexer:
    url: "` + subURL + `"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
` + extra
}

// lockedBuffer is a log sink the server writes from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeLifecycle runs serve in-process: ingest and delivery, a SIGHUP
// with a broken file (old config kept), one with a valid file (new
// subscriber appears), then SIGTERM and exit 0.
func TestServeLifecycle(t *testing.T) {
	got := make(chan string, 10)
	sub := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Header.Get("User-Agent")
	})}
	subLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sub.Serve(subLn)
	t.Cleanup(func() { sub.Close() })
	subURL := "http://" + subLn.Addr().String() + "/hook"

	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(serveConfig(dir, subURL, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	sigs := make(chan os.Signal, 1)
	addrs := make(chan [2]net.Addr, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- serve(serveOptions{
			configPath: path,
			grace:      10 * time.Second,
			log:        slog.New(slog.NewTextHandler(logs, nil)),
			stderr:     logs,
			signals:    sigs,
			ready:      func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} },
		})
	}()
	var public, admin string
	select {
	case a := <-addrs:
		public, admin = "http://"+a[0].String(), "http://"+a[1].String()
	case code := <-exit:
		t.Fatalf("serve exited %d before it was ready:\n%s", code, logs.String())
	}
	if strings.Contains(logs.String(), serveToken) || strings.Contains(logs.String(), serveSecret) {
		t.Errorf("a secret is in the log:\n%s", logs.String())
	}

	body := `{"type":"product.updated","resource":"products","id":"P1","timestamp":"2024-01-15T10:30:00.000Z","data":{"id":"P1"}}`
	req, _ := http.NewRequest(http.MethodPost, public+"/webhooks/shop", strings.NewReader(body))
	name, value := iimmpact.Provider{}.Sign([]byte(body), []byte(serveSecret))
	req.Header.Set(name, value)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST = %d, want 200", resp.StatusCode)
	}
	select {
	case ua := <-got:
		if ua != "hookgate/"+Version {
			t.Errorf("User-Agent = %q, want hookgate/%s", ua, Version)
		}
	case <-time.After(time.Minute):
		t.Fatalf("subscriber got nothing within a minute:\n%s", logs.String())
	}

	// A broken file: the old config stays, the error is reported with its line.
	if err := os.WriteFile(path, []byte(serveConfig(dir, subURL, "    bogus_key: 1\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	st := waitStatus(t, admin, func(st statusJSON) bool { return st.LastReloadError != "" })
	if !strings.Contains(st.LastReloadError, "config.yaml:") || !strings.Contains(st.LastReloadError, "bogus_key") {
		t.Errorf("last_reload_error = %q, want file:line and the key", st.LastReloadError)
	}
	if st.Subscribers != 1 {
		t.Errorf("subscribers after a failed reload = %d, want 1", st.Subscribers)
	}

	// A valid file with a second subscriber.
	extra := "  audit:\n    url: \"" + subURL + "\"\n    secret: \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\n"
	if err := os.WriteFile(path, []byte(serveConfig(dir, subURL, extra)), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	st = waitStatus(t, admin, func(st statusJSON) bool { return st.Subscribers == 2 })
	if st.LastReloadError != "" {
		t.Errorf("last_reload_error after a good reload = %q, want empty", st.LastReloadError)
	}

	sigs <- syscall.SIGTERM
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit after SIGTERM = %d, want 0:\n%s", code, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute of SIGTERM:\n%s", logs.String())
	}
	if _, err := http.Get(public + "/healthz"); err == nil {
		t.Errorf("public listener still answers after shutdown")
	}
}

type statusJSON struct {
	LastReloadError string `json:"last_reload_error"`
	Subscribers     int    `json:"subscribers"`
}

// waitStatus polls the admin status until ok holds (the signal is handled
// asynchronously), failing after a generous minute.
func waitStatus(t *testing.T, admin string, ok func(statusJSON) bool) statusJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequest(http.MethodGet, admin+"/admin/api/status", nil)
		req.Header.Set("Authorization", "Bearer "+serveToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st statusJSON
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reached the wanted state; last %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
