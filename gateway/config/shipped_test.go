package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// The config.yaml at the repository root is what the README and the
// Dockerfile use: it must be valid on a machine with nothing set, and take
// its secrets from the environment when they are.
func TestShippedConfig(t *testing.T) {
	data, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("config.yaml", data, envMap(nil))
	if err != nil {
		t.Fatalf("the shipped config.yaml does not load with an empty environment:\n%v", err)
	}
	if cfg.Store.Redis != nil || cfg.Store.Path != "./data" {
		t.Errorf("store = %+v, want the embedded store in ./data", cfg.Store)
	}
	for _, addr := range []string{cfg.Server.Listen, cfg.Admin.Listen} {
		if addr != "127.0.0.1:8080" && addr != "127.0.0.1:9090" {
			t.Errorf("listener %q is not on loopback", addr)
		}
	}
	if got := cfg.Sources["iimmpact"].Secrets; !reflect.DeepEqual(got, []gateway.Secret{"dev-iimmpact-secret"}) {
		t.Errorf("iimmpact secrets = %q, want the dev default", got)
	}
	sub := cfg.Subscribers["catalog-sync"]
	if sub == nil || sub.URL != "http://127.0.0.1:8000/hooks/catalog" || len(sub.SigningKeys) != 1 {
		t.Fatalf("subscriber catalog-sync = %+v", sub)
	}
	defaults := config.DefaultSubscriber()
	if sub.Timeout != defaults.Timeout || sub.MaxInFlight != defaults.MaxInFlight ||
		sub.Retry != defaults.Retry || sub.Breaker != defaults.Breaker || !reflect.DeepEqual(sub.Events, defaults.Events) {
		t.Errorf("catalog-sync = %+v; the file documents the defaults, want them", sub)
	}

	env := map[string]string{
		"IIMMPACT_WEBHOOK_SECRET": "prod-iimmpact",
		"CATALOG360_WEBHOOK_KEY":  "prod-c360",
		"CATALOG_SYNC_SECRET":     whsec,
		"HOOKGATE_ADMIN_TOKEN":    "prod-admin-token-0123",
	}
	cfg, err = config.Parse("config.yaml", data, envMap(env))
	if err != nil {
		t.Fatalf("with the environment set:\n%v", err)
	}
	got := []string{
		cfg.Sources["iimmpact"].Secrets[0].Reveal(),
		cfg.Sources["catalog360"].Secrets[0].Reveal(),
		cfg.Subscribers["catalog-sync"].Secrets[0].Reveal(),
		cfg.Admin.Token.Reveal(),
	}
	want := []string{"prod-iimmpact", "prod-c360", whsec, "prod-admin-token-0123"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secrets = %q, want %q from the environment", got, want)
	}
}

// TestShippedConfigRedisBlock: the commented-out redis block of the
// shipped config.yaml, uncommented, loads and shows the defaults.
func TestShippedConfigRedisBlock(t *testing.T) {
	data, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The block: "  # redis:" and the "  #   key: value" lines after it.
	var block []string
	for _, line := range strings.Split(string(data), "\n") {
		if line == "  # redis:" {
			block = append(block, "  redis:")
		} else if len(block) > 0 && strings.HasPrefix(line, "  #   ") {
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		} else if len(block) > 0 {
			break
		}
	}
	if len(block) == 0 {
		t.Fatal("config.yaml has no commented-out redis block under store")
	}
	src := minimal + "store:\n" + strings.Join(block, "\n") + "\n"
	cfg, err := config.Parse("config.yaml", []byte(src), envMap(nil))
	if err != nil {
		t.Fatalf("the redis block of config.yaml does not load:\n%v\n%s", err, src)
	}
	r := cfg.Store.Redis
	if r == nil || r.URL.Reveal() != "redis://127.0.0.1:6379/0" || r.Prefix != config.DefaultRedisPrefix ||
		r.Partitions != 0 || r.MasterName != "" || len(r.Addrs) != 0 || r.MinReplicas != gateway.ReplicasAuto {
		t.Errorf("store.redis = %+v, want the defaults", r)
	}
}
