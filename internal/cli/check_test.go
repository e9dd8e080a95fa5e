package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// checkProvider is a provider with a fixed list of types, so that the
// routing table below does not change when a real plugin's list does.
type checkProvider struct{ types []string }

func (checkProvider) Decode(gateway.Request, [][]byte) (gateway.Batch, error) {
	return gateway.Batch{}, gateway.ErrPayload
}
func (checkProvider) Sign(body, secret []byte) (string, string) { return "X-Check", "" }

// checkSampler adds the Sampler methods that check uses for the table.
type checkSampler struct{ checkProvider }

func (p checkSampler) SampleTypes() []string         { return nil }
func (p checkSampler) Sample(string) ([]byte, error) { return nil, gateway.ErrNotFound }
func (p checkSampler) KnownTypes() []string          { return p.types }

func init() {
	gateway.RegisterProvider("checkshop", checkSampler{checkProvider{types: []string{
		"checkshop.option.created", "checkshop.order.paid", "checkshop.product.deleted", "checkshop.product.updated",
	}}})
	gateway.RegisterProvider("checkplain", checkProvider{})
	// The shipped config names both real providers; cover one that has
	// not landed in plugins/ yet.
	for _, name := range []string{"iimmpact", "catalog360"} {
		if _, err := gateway.LookupProvider(name); err != nil {
			gateway.RegisterProvider(name, checkSampler{checkProvider{types: []string{name + ".thing.updated"}}})
		}
	}
}

const checkSecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u"

const validCheckConfig = `sources:
  shop:
    provider: checkshop
    secrets: ["TOPSECRET-a", "TOPSECRET-b"]
  legacy:
    provider: checkplain
    secrets: ["TOPSECRET-c"]
subscribers:
  products:
    url: "https://user:TOPSECRET-pw@products.internal/hook?token=TOPSECRET-q"
    secret: ` + checkSecret + `
    events: ["*.product.*", "checkshop.products.*"]
    sources: [shop]
  everything:
    url: http://127.0.0.1:8000/all
    secret: [` + checkSecret + `, ` + checkSecret + `]
`

const validCheckOutput = `CONFIG: OK

sources:
  NAME    PROVIDER    SECRETS  INGEST
  legacy  checkplain  1        POST /webhooks/legacy
  shop    checkshop   2        POST /webhooks/shop

subscribers:
  everything
    url:     http://127.0.0.1:8000/all
    events:  **
    sources: all
    secrets: 2
  products
    url:     https://redacted@products.internal/hook?token=redacted
    events:  *.product.*, checkshop.products.*
    sources: shop
    secrets: 1

routes (event type -> subscribers):
  legacy (checkplain):
    (the provider lists no event types; by pattern:)
    ** -> everything
  shop (checkshop):
    checkshop.option.created   -> everything
    checkshop.order.paid       -> everything
    checkshop.product.deleted  -> everything, products
    checkshop.product.updated  -> everything, products

warnings:
  subscribers.products.events[1]: "checkshop.products.*" matches no documented event type of its sources
`

// writeConfig writes src as config.yaml in a new directory and returns
// its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// check runs `hookgate check args...` in-process.
func check(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(append([]string{"check"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestCheckValid(t *testing.T) {
	path := writeConfig(t, validCheckConfig)
	stdout, stderr, code := check(t, "-config", path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if want := strings.Replace(validCheckOutput, "CONFIG", path, 1); stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if strings.Contains(stdout, "TOPSECRET") || strings.Contains(stdout, checkSecret) {
		t.Errorf("check shows a secret:\n%s", stdout)
	}
}

func TestCheckInvalid(t *testing.T) {
	path := writeConfig(t, `server:
  max_bodyy: 5MB
sources:
  shop:
    provider: checkshop
    secrets: ["${CHECK_TEST_UNSET_SECRET}"]
subscribers:
  products:
    url: https://products.internal/hook
    secret: whsec_VE9QU0VDUkVULXNob3J0
    timeout: soon
`)
	stdout, stderr, code := check(t, "-config", path)
	if code != exitError || stdout != "" {
		t.Fatalf("exit %d, want %d; stdout:\n%s", code, exitError, stdout)
	}
	want := path + ":2: server.max_bodyy: unknown key (known: listen, tls, max_body, max_pending_bytes, max_pending_bytes_per_client, max_conns_per_client, min_upload_rate)\n" +
		path + ":6: sources.shop.secrets[0]: empty secret (CHECK_TEST_UNSET_SECRET is unset)\n" +
		path + ":10: subscribers.products.secret[0]: key is 15 bytes; at least 16 are required\n" +
		path + ":11: subscribers.products.timeout: invalid duration (want e.g. 1500ms, 2m, 168h)\n" +
		path + ": 4 errors\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	if strings.Contains(stderr, "VE9QU0VDUkVU") {
		t.Errorf("check shows a secret:\n%s", stderr)
	}
}

func TestCheckConfigPath(t *testing.T) {
	good := writeConfig(t, validCheckConfig)
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	tests := []struct {
		name     string
		env      string // HOOKGATE_CONFIG
		args     []string
		wantCode int
		wantErr  string // substring of stderr
	}{
		{name: "env names the file", env: good, wantCode: exitOK},
		{name: "flag beats env", env: missing, args: []string{"-config", good}, wantCode: exitOK},
		{name: "missing file", args: []string{"-config", missing}, wantCode: exitError, wantErr: "hookgate check: read config: open " + missing},
		{name: "env names a missing file", env: missing, wantCode: exitError, wantErr: missing},
		{name: "bad flag", args: []string{"-nope"}, wantCode: exitUsage, wantErr: "flag provided but not defined: -nope"},
		{name: "extra argument", args: []string{"-config", good, "more"}, wantCode: exitUsage, wantErr: `unexpected argument "more"`},
		{name: "help", args: []string{"-h"}, wantCode: exitOK, wantErr: "-config PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOOKGATE_CONFIG", tt.env)
			_, stderr, code := check(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and stderr containing %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// The shipped config.yaml checks valid with nothing set, and warns that it
// runs on the published development secrets (never showing them).
func TestCheckShippedConfig(t *testing.T) {
	for _, v := range []string{"IIMMPACT_WEBHOOK_SECRET", "CATALOG360_WEBHOOK_KEY", "CATALOG_SYNC_SECRET", "HOOKGATE_ADMIN_TOKEN"} {
		t.Setenv(v, "")
	}
	stdout, stderr, code := check(t, "-config", "../../config.yaml")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"  iimmpact    iimmpact    1        POST /webhooks/iimmpact\n",
		"  catalog-sync\n    url:     http://127.0.0.1:8000/hooks/catalog\n",
		"  iimmpact (iimmpact):\n",
		"  catalog360 (catalog360):\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "    iimmpact.") && !strings.HasSuffix(l, "-> catalog-sync") {
			t.Errorf("route %q does not reach catalog-sync, whose events are **", l)
		}
	}
	for _, want := range []string{
		"  sources.catalog360.secrets[0] is a published development value",
		"  sources.iimmpact.secrets[0] is a published development value",
		"  subscribers.catalog-sync.secret[0] is a published development value",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks the warning %q:\n%s", want, stdout)
		}
	}
	// With the variables set, no such warning.
	t.Setenv("IIMMPACT_WEBHOOK_SECRET", "a-real-iimmpact-secret")
	t.Setenv("CATALOG360_WEBHOOK_KEY", "a-real-catalog360-key")
	t.Setenv("CATALOG_SYNC_SECRET", "whsec_cmVhbC1zaWduaW5nLWtleS1mb3ItdGVzdHMtMzI=")
	if out, _, code := check(t, "-config", "../../config.yaml"); code != exitOK || strings.Contains(out, "development value") {
		t.Errorf("with real secrets set: exit %d, output:\n%s", code, out)
	}
	if strings.Contains(stdout, "dev-iimmpact-secret") || strings.Contains(stdout, "whsec_") {
		t.Errorf("check shows a secret:\n%s", stdout)
	}
}

// TestCheckOpRoutes: a subscriber naming hookgate in its sources gets a
// routing table of the gateway's own event types, and its patterns are
// judged against them (no warning for hookgate.subscriber.*); the
// subscriber of every event does not get them.
func TestCheckOpRoutes(t *testing.T) {
	path := writeConfig(t, validCheckConfig+`  ops-alerts:
    url: http://alerts.internal/hooks/hookgate
    secret: `+checkSecret+`
    sources: [hookgate]
    events: ["hookgate.delivery.dead", "hookgate.subscriber.*", "hookgate.nothing"]
`)
	stdout, stderr, code := check(t, "-config", path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"  hookgate (the gateway's own events):\n" +
			"    hookgate.delivery.dead              -> ops-alerts\n" +
			"    hookgate.subscriber.breaker_opened  -> ops-alerts\n" +
			"    hookgate.subscriber.breaker_closed  -> ops-alerts\n" +
			"    hookgate.subscriber.paused          -> ops-alerts\n" +
			"    hookgate.subscriber.resumed         -> ops-alerts\n",
		`subscribers.ops-alerts.events[2]: "hookgate.nothing" matches no documented event type of its sources`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "ops-alerts.events[0]") || strings.Contains(stdout, "ops-alerts.events[1]") {
		t.Errorf("a warning about a pattern that matches operational events:\n%s", stdout)
	}
}
