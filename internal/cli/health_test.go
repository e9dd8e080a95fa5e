package cli

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// health runs `hookgate health args...` in-process.
func health(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(append([]string{"health"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// readyServer answers /readyz with status and body, anything else 404.
func readyServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedURL is a loopback URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/readyz"
}

// silentURL is a loopback listener that accepts connections (the kernel
// completes the handshake) and never answers: a hung gateway.
func silentURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/readyz"
}

func TestHealth(t *testing.T) {
	ready := readyServer(t, 200, `{"status":"ready"}`)
	down := readyServer(t, 503, "{\"status\":\"unavailable\",\n\"error\":\"store unavailable\"}")
	redirect := httptest.NewServer(http.RedirectHandler(ready.URL+"/readyz", http.StatusFound))
	t.Cleanup(redirect.Close)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{"ready", []string{"-url", ready.URL + "/readyz"}, 0, "200 OK", ""},
		{"not ready", []string{"-url", down.URL + "/readyz"}, 1, "", `503 Service Unavailable: {"status":"unavailable",; "error":"store unavailable"}`},
		{"refused", []string{"-url", closedURL(t)}, 1, "", "connection refused"},
		{"never answers", []string{"-url", silentURL(t), "-timeout", "300ms"}, 1, "", "no answer within 300ms"},
		{"redirect not followed", []string{"-url", redirect.URL + "/readyz"}, 1, "", "302 Found"},
		{"config names no file", []string{"-config", "/nonexistent/config.yaml"}, 1, "", "/nonexistent/config.yaml"},
		{"bad url", []string{"-url", "127.0.0.1:9090/readyz"}, 2, "", "want http://"},
		{"bad timeout", []string{"-url", ready.URL, "-timeout", "0s"}, 2, "", "positive duration"},
		{"extra argument", []string{"extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, code := health(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
			if n := strings.Count(strings.TrimSuffix(stderr, "\n"), "\n"); n > 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, stderr)
			}
			// The bound: a health check must never hang (the default
			// timeout is 5s; these use at most 300ms).
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s, want well within the timeout", d)
			}
		})
	}
}

// TestHealthFromConfig: without -url, health dials /readyz on admin.listen,
// a wildcard host on loopback; a config that does not load is one line.
func TestHealthFromConfig(t *testing.T) {
	ready := readyServer(t, 200, `{"status":"ready"}`)
	_, port, _ := net.SplitHostPort(ready.Listener.Addr().String())
	dir := t.TempDir()
	cfg := strings.Replace(serveConfig(dir, "http://127.0.0.1:1/hooks", ""),
		"admin:\n  listen: \"127.0.0.1:0\"", "admin:\n  listen: \"0.0.0.0:"+port+"\"", 1)
	stdout, stderr, code := health(t, "-config", writeConfig(t, cfg))
	if code != 0 || !strings.Contains(stdout, "http://127.0.0.1:"+port+"/readyz: 200 OK") {
		t.Errorf("health from config: exit %d, stdout %q, stderr %q; want 0 and 200 OK from 127.0.0.1:%s", code, stdout, stderr, port)
	}

	bad := writeConfig(t, "server:\n  listen: 1\n  bogus: 2\nnope: 3\n")
	_, stderr, code = health(t, "-config", bad)
	if code != 1 || strings.Count(strings.TrimSuffix(stderr, "\n"), "\n") != 0 || !strings.Contains(stderr, "or pass -url") {
		t.Errorf("health with a broken config: exit %d, stderr %q; want 1 and one line", code, stderr)
	}
}

func TestReadyURL(t *testing.T) {
	tls := gateway.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}
	tests := []struct {
		name string
		in   gateway.AdminConfig
		want string
	}{
		{"loopback", gateway.AdminConfig{Listen: "127.0.0.1:9090"}, "http://127.0.0.1:9090/readyz"},
		{"wildcard v4", gateway.AdminConfig{Listen: "0.0.0.0:9090"}, "http://127.0.0.1:9090/readyz"},
		{"wildcard v6", gateway.AdminConfig{Listen: "[::]:9090"}, "http://127.0.0.1:9090/readyz"},
		{"empty host", gateway.AdminConfig{Listen: ":9090"}, "http://127.0.0.1:9090/readyz"},
		{"named host", gateway.AdminConfig{Listen: "localhost:9090"}, "http://localhost:9090/readyz"},
		{"tls", gateway.AdminConfig{Listen: "127.0.0.1:9443", TLS: tls}, "https://127.0.0.1:9443/readyz"},
		{"ipv6 loopback", gateway.AdminConfig{Listen: "[::1]:9090"}, "http://[::1]:9090/readyz"},
	}
	for _, tt := range tests {
		if got := readyURL(tt.in); got != tt.want {
			t.Errorf("%s: readyURL(%+v) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}
