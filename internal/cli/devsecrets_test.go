package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// TestRefuseDevSecrets: a published development secret serves only on
// loopback, unless allowed.
func TestRefuseDevSecrets(t *testing.T) {
	dev := &gateway.Config{Sources: map[string]*gateway.SourceConfig{
		"iimmpact": {Provider: "iimmpact", Secrets: []gateway.Secret{"dev-iimmpact-secret"}}}}
	real := &gateway.Config{Sources: map[string]*gateway.SourceConfig{
		"iimmpact": {Provider: "iimmpact", Secrets: []gateway.Secret{"a-real-secret-from-the-env"}}}}
	for _, tc := range []struct {
		name    string
		cfg     *gateway.Config
		listen  string
		allow   bool
		refused bool
	}{
		{"dev on all interfaces", dev, "0.0.0.0:8080", false, true},
		{"dev on a LAN address", dev, "10.1.2.3:8080", false, true},
		{"dev on loopback", dev, "127.0.0.1:8080", false, false},
		{"dev allowed", dev, "0.0.0.0:8080", true, false},
		{"real on all interfaces", real, "0.0.0.0:8080", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refuseDevSecrets(tc.cfg, tc.listen, tc.allow)
			if (err != nil) != tc.refused {
				t.Fatalf("refuseDevSecrets = %v, want refused=%v", err, tc.refused)
			}
			if err != nil && (!strings.Contains(err.Error(), "sources.iimmpact.secrets[0]") || strings.Contains(err.Error(), "dev-iimmpact-secret")) {
				t.Errorf("error %q: want the key named and the value not shown", err)
			}
		})
	}
}

// TestServeRefusesDevSecretsInPublic: `hookgate serve` with a development
// secret on 0.0.0.0 exits 1 and says why, before it listens.
func TestServeRefusesDevSecretsInPublic(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.Replace(serveConfig(dir, "http://127.0.0.1:1/x", ""), `listen: "127.0.0.1:0"`, `listen: "0.0.0.0:0"`, 1)
	cfg = strings.Replace(cfg, serveSecret, "dev-iimmpact-secret", 1)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runServe([]string{"-config", path, "-log-format", "text"}, &stdout, &stderr); code != exitError {
		t.Fatalf("serve = exit %d, want %d; stderr:\n%s", code, exitError, stderr.String())
	}
	if got := stderr.String(); !strings.Contains(got, "published development secrets") || !strings.Contains(got, "-allow-dev-secrets") {
		t.Errorf("stderr does not say why:\n%s", got)
	}
}
