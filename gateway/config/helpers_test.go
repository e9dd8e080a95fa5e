package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	// The real providers, where they exist; registerIfMissing covers the
	// rest until they land.
	_ "github.com/hookgate/hookgate/gateway/deliver/dest"
	_ "github.com/hookgate/hookgate/plugins"
)

// testProvider stands in for a plugin where the real one is not linked
// into this test binary; it only has to be registered and list its types.
type testProvider struct{ name string }

func (p testProvider) Decode(gateway.Request, [][]byte) (gateway.Batch, error) {
	return gateway.Batch{}, fmt.Errorf("test provider: %w", gateway.ErrPayload)
}

func (p testProvider) Sign(body, secret []byte) (string, string) { return "X-Test", "" }

// registerIfMissing registers the test provider under name unless a real
// plugin already took it (plugins register in their init, which runs
// before this package's).
func registerIfMissing(name string) {
	if _, err := gateway.LookupProvider(name); err != nil {
		gateway.RegisterProvider(name, testProvider{name: name})
	}
}

func init() {
	registerIfMissing("iimmpact")
	registerIfMissing("catalog360")
}

// whsec is a valid subscriber secret: 24 bytes, base64.
const whsec = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u"

// minimal is the smallest valid config.
const minimal = `sources:
  iimmpact:
    provider: iimmpact
    secrets: ["s3cret-iimmpact"]
`

// envMap turns a map into the env lookup Parse takes.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// parse parses src as config.yaml with env.
func parse(t *testing.T, src string, env map[string]string) (*gateway.Config, error) {
	t.Helper()
	return config.Parse("config.yaml", []byte(src), envMap(env))
}

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src string, env map[string]string) *gateway.Config {
	t.Helper()
	cfg, err := parse(t, src, env)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return cfg
}

// errLines parses src, which must fail, and returns its errors one per line.
func errLines(t *testing.T, src string, env map[string]string) []string {
	t.Helper()
	cfg, err := parse(t, src, env)
	if err == nil {
		t.Fatalf("Parse succeeded, want errors; config:\n%s", config.Redacted(cfg))
	}
	return strings.Split(err.Error(), "\n")
}
