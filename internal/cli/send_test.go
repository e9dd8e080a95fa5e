package cli

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/plugins/catalog360"
	"github.com/hookgate/hookgate/plugins/iimmpact"
)

const (
	sendFirstSecret  = "SENDSECRET-first"
	sendSecondSecret = "SENDSECRET-second"
	sendC360Key      = "SENDSECRET-c360"
)

// sendConfig is a config whose sources send signs for, listening on
// listen (which send reaches when no -url is given).
func sendConfig(t *testing.T, listen string) string {
	return writeConfig(t, `server:
  listen: "`+listen+`"
store:
  path: "`+filepath.Join(t.TempDir(), "data")+`"
sources:
  shop:
    provider: iimmpact
    secrets: ["`+sendFirstSecret+`", "`+sendSecondSecret+`"]
  assets:
    provider: catalog360
    secrets: ["`+sendC360Key+`"]
`)
}

// received is one request the fake gateway got.
type received struct {
	path   string
	header http.Header
	body   []byte
}

// upstreamSink is a real HTTP server standing in for the gateway's public
// listener: it records each request and answers with code.
type upstreamSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []received
	code int
}

func newUpstreamSink(t *testing.T, code int) *upstreamSink {
	s := &upstreamSink{code: code}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, received{path: r.URL.Path, header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		w.WriteHeader(s.code)
		io.WriteString(w, `{"stored":1,"duplicates":0}`+"\n")
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *upstreamSink) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func TestSend(t *testing.T) {
	bodyFile := filepath.Join(t.TempDir(), "my-event.json")
	fileBody := `{"type":"option.created","resource":"options","id":"O1","timestamp":"2024-01-15T10:30:00.000Z","data":{}}`
	if err := os.WriteFile(bodyFile, []byte(fileBody), 0o600); err != nil {
		t.Fatal(err)
	}
	iimmpactSample, _ := iimmpact.Provider{}.Sample("product.updated")
	c360Sample, _ := catalog360.Provider{}.Sample("assetitem_updated")
	tests := []struct {
		name       string
		source     string
		event      string
		answer     int
		wantCode   int
		wantBodies []string // bodies the gateway got, in order
		wantStdout string   // substring
	}{
		{"iimmpact sample", "shop", "product.updated", 200, exitOK, []string{string(iimmpactSample)},
			`product.updated -> 200 OK {"stored":1,"duplicates":0}` + "\n"},
		{"catalog360 sample", "assets", "assetitem_updated", 200, exitOK, []string{string(c360Sample)},
			"assetitem_updated -> 200 OK"},
		{"catalog360 sample by its dotted type", "assets", "assetitem.updated", 200, exitOK, []string{string(c360Sample)},
			"assetitem.updated -> 200 OK"},
		{"catalog360 sample by its envelope type", "assets", "catalog360.assetitem.updated", 200, exitOK, []string{string(c360Sample)},
			"catalog360.assetitem.updated -> 200 OK"},
		{"file body", "shop", bodyFile, 200, exitOK, []string{fileBody}, bodyFile + " -> 200 OK"},
		{"refused by the gateway", "shop", "product.updated", 401, exitError, []string{string(iimmpactSample)},
			"product.updated -> 401 Unauthorized"},
		{"server error", "assets", "assetitem_updated", 503, exitError, []string{string(c360Sample)},
			"assetitem_updated -> 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newUpstreamSink(t, tt.answer)
			path := sendConfig(t, sink.srv.Listener.Addr().String())
			var stdout, stderr bytes.Buffer
			// -same: the bodies are the samples as they ship (no
			// max_event_age here); TestSendNewEachTime covers the default.
			code := Main([]string{"send", "--source", tt.source, "--event", tt.event, "-same", "-config", path}, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			got := sink.requests()
			if len(got) != len(tt.wantBodies) {
				t.Fatalf("gateway got %d requests, want %d", len(got), len(tt.wantBodies))
			}
			for i, r := range got {
				if string(r.body) != tt.wantBodies[i] {
					t.Errorf("request %d body:\n%s\nwant:\n%s", i, r.body, tt.wantBodies[i])
				}
				checkSigned(t, tt.source, r)
			}
			noSendSecret(t, stdout.String()+stderr.String())
		})
	}
}

// checkSigned requires r to reach /webhooks/<source> signed with the
// source's first secret as the provider itself verifies it, and with no
// other secret.
func checkSigned(t *testing.T, source string, r received) {
	t.Helper()
	if want := "/webhooks/" + source; r.path != want {
		t.Errorf("path = %q, want %q", r.path, want)
	}
	provider, first, other := gateway.Provider(iimmpact.Provider{}), sendFirstSecret, sendSecondSecret
	if source == "assets" {
		provider, first, other = catalog360.Provider{}, sendC360Key, sendFirstSecret
	}
	req := gateway.Request{Header: r.header, Body: r.body, ReceivedAt: time.Now()}
	if _, err := provider.Decode(req, [][]byte{[]byte(first)}); err != nil {
		t.Errorf("the provider does not accept the signature with the first secret: %v", err)
	}
	if _, err := provider.Decode(req, [][]byte{[]byte(other)}); err == nil {
		t.Errorf("the signature verifies with a secret other than the first")
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

func noSendSecret(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, "SENDSECRET") {
		t.Errorf("send printed a secret:\n%s", out)
	}
}

// `--event all` sends every sample of the provider, one request and one
// output line each (with -same, the samples as they ship).
func TestSendAll(t *testing.T) {
	sink := newUpstreamSink(t, 200)
	path := sendConfig(t, "127.0.0.1:1")
	var stdout, stderr bytes.Buffer
	code := Main([]string{"send", "-source", "shop", "-event", "all", "-same", "-config", path, "-url", sink.srv.URL + "/"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	types := iimmpact.Provider{}.SampleTypes()
	got := sink.requests()
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(got) != len(types) || len(lines) != len(types) {
		t.Fatalf("%d requests and %d lines, want %d of each:\n%s", len(got), len(lines), len(types), stdout.String())
	}
	for i, typ := range types {
		want, _ := iimmpact.Provider{}.Sample(typ)
		if !bytes.Equal(got[i].body, want) {
			t.Errorf("request %d is not the %s sample", i, typ)
		}
		checkSigned(t, "shop", got[i])
		if !strings.HasPrefix(lines[i], typ+" -> 200 OK") {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], typ+" -> 200 OK")
		}
	}
}

// Without -same every send of a sample is a new event for the gateway
// (the quick start run again on an existing store reaches the consumer);
// with -same the second send is the first's body, a duplicate.
func TestSendNewEachTime(t *testing.T) {
	for _, tt := range []struct {
		source, event string
		provider      gateway.Provider
	}{
		{"shop", "product.updated", iimmpact.Provider{}},
		{"assets", "asset_created", catalog360.Provider{}},
		{"assets", "asset.created", catalog360.Provider{}},
	} {
		t.Run(tt.event, func(t *testing.T) {
			sink := newUpstreamSink(t, 200)
			path := sendConfig(t, sink.srv.Listener.Addr().String())
			send := func(extra ...string) {
				t.Helper()
				var stdout, stderr bytes.Buffer
				args := append([]string{"send", "-source", tt.source, "-event", tt.event, "-config", path}, extra...)
				if code := Main(args, &stdout, &stderr); code != exitOK {
					t.Fatalf("%v: exit %d, stderr:\n%s", args, code, stderr.String())
				}
			}
			send()
			send()
			send("-same")
			send("-same")
			got := sink.requests()
			if len(got) != 4 {
				t.Fatalf("gateway got %d requests, want 4", len(got))
			}
			sample, _ := tt.provider.(gateway.Sampler).Sample(tt.event)
			orig := decodeOne(t, tt.provider, sample)
			var ids []string
			for i, r := range got {
				checkSigned(t, tt.source, r)
				ev := decodeOne(t, tt.provider, r.body)
				if ev.Type != orig.Type || ev.Subject != orig.Subject || !bytes.Equal(ev.Object, orig.Object) {
					t.Errorf("request %d: %s %s %s, want the sample's %s %s %s", i, ev.Type, ev.Subject, ev.Object, orig.Type, orig.Subject, orig.Object)
				}
				ids = append(ids, ev.Identity)
			}
			if ids[0] == ids[1] || ids[0] == orig.Identity || ids[1] == orig.Identity {
				t.Errorf("two sends without -same: not two new events (identities %q, %q; the sample's %q)", ids[0], ids[1], orig.Identity)
			}
			if !bytes.Equal(got[2].body, sample) || !bytes.Equal(got[3].body, sample) {
				t.Errorf("-same sent\n%s\n%s\nwant the sample twice:\n%s", got[2].body, got[3].body, sample)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	path := sendConfig(t, "127.0.0.1:1")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // substring of stderr
	}{
		{"no source", []string{"--event", "product.updated"}, exitUsage, "--source NAME and --event"},
		{"no event", []string{"--source", "shop"}, exitUsage, "--source NAME and --event"},
		{"extra argument", []string{"--source", "shop", "--event", "x", "more"}, exitUsage, `unexpected argument "more"`},
		{"unknown source", []string{"--source", "nope", "--event", "product.updated"}, exitError, `no source "nope"`},
		{"unknown type lists the known ones", []string{"--source", "shop", "--event", "product.exploded"}, exitError,
			"product.created, product.deleted, product.updated"},
		{"missing file", []string{"--source", "shop", "--event", "./nothing-here.json"}, exitError, `"./nothing-here.json": no such file`},
		{"gateway down", []string{"--source", "shop", "--event", "product.updated"}, exitError, "product.updated -> error:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"send", "-config", path}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and stderr containing %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
			noSendSecret(t, stdout.String()+stderr.String())
		})
	}
}

// -insecure reaches a gateway serving a self-signed certificate; without
// it the certificate is refused.
func TestSendInsecure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	path := sendConfig(t, "127.0.0.1:1")
	args := []string{"send", "-config", path, "-source", "shop", "-event", "product.updated", "-url", srv.URL}
	var stdout, stderr bytes.Buffer
	if code := Main(args, &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "certificate") {
		t.Errorf("without -insecure: exit %d, stderr %q; want 1 and a certificate error", code, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := Main(append(args, "-insecure"), &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "200 OK") {
		t.Errorf("with -insecure: exit %d, stdout %q, stderr %q; want 0 and 200 OK", code, stdout.String(), stderr.String())
	}
}

func TestGatewayBaseURL(t *testing.T) {
	tls := gateway.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}
	tests := []struct {
		sc   gateway.ServerConfig
		want string
	}{
		{gateway.ServerConfig{Listen: "127.0.0.1:8080"}, "http://127.0.0.1:8080"},
		{gateway.ServerConfig{Listen: "0.0.0.0:8080"}, "http://127.0.0.1:8080"},
		{gateway.ServerConfig{Listen: ":8080"}, "http://127.0.0.1:8080"},
		{gateway.ServerConfig{Listen: "[::]:8443", TLS: tls}, "https://127.0.0.1:8443"},
		{gateway.ServerConfig{Listen: "hooks.internal:443", TLS: tls}, "https://hooks.internal:443"},
		{gateway.ServerConfig{Listen: "127.0.0.1:8443", TLS: gateway.TLSConfig{CertFile: "c.pem"}}, "http://127.0.0.1:8443"},
	}
	for _, tt := range tests {
		if got := gatewayBaseURL(tt.sc); got != tt.want {
			t.Errorf("gatewayBaseURL(%+v) = %q, want %q", tt.sc, got, tt.want)
		}
	}
}
