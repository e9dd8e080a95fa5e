package config_test

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

var specEnv = map[string]string{
	"IIMMPACT_WEBHOOK_SECRET": "iim-secret-value",
	"CATALOG360_WEBHOOK_KEY":  "c360-secret-value",
	"SEARCH_INDEXER_SECRET":   whsec,
}

func TestParseConfigSpecExample(t *testing.T) {
	data, err := os.ReadFile("testdata/config/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("testdata/config/spec.yaml", data, envMap(specEnv))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	if cfg.Path != "testdata/config/spec.yaml" {
		t.Errorf("Path = %q", cfg.Path)
	}
	if got, want := cfg.Server, (gateway.ServerConfig{Listen: "127.0.0.1:8080", MaxBody: 5 << 20, MaxPendingBytes: 64 << 20,
		MaxPendingBytesPerClient: 16 << 20, MaxConnsPerClient: 256, MinUploadRate: 16 << 10}); got != want {
		t.Errorf("Server = %+v, want %+v", got, want)
	}
	if got, want := cfg.Admin, (gateway.AdminConfig{Listen: "127.0.0.1:9090"}); got != want {
		t.Errorf("Admin = %+v, want %+v", got, want)
	}
	if cfg.Store.Redis == nil || cfg.Store.Redis.URL.Reveal() != "redis://127.0.0.1:6379/0" || cfg.Store.Redis.Prefix != "hookgate" ||
		cfg.Store.Redis.MinReplicas != gateway.ReplicasAuto {
		t.Errorf("Store.Redis = %+v", cfg.Store.Redis)
	}
	if cfg.Store.Retention != 168*time.Hour || cfg.Store.DedupeWindow != 72*time.Hour {
		t.Errorf("Store = %+v", cfg.Store)
	}
	iim := cfg.Sources["iimmpact"]
	if iim == nil || iim.Name != "iimmpact" || iim.Provider != "iimmpact" ||
		!reflect.DeepEqual(iim.Secrets, []gateway.Secret{"iim-secret-value"}) {
		t.Errorf("sources.iimmpact = %+v", iim)
	}
	sub := cfg.Subscribers["search-indexer"]
	if sub == nil {
		t.Fatal("no subscriber search-indexer")
	}
	want := gateway.SubscriberConfig{
		Name:        "search-indexer",
		Kind:        gateway.KindHTTP,
		URL:         "http://search.internal:8000/hooks/catalog",
		Secrets:     []gateway.Secret{whsec},
		Events:      []string{"iimmpact.product.*", "*.option.**"},
		Sources:     []string{"iimmpact"},
		Timeout:     10 * time.Second,
		MaxInFlight: 16,
		Headers:     map[string]string{"X-Team": "search"},
		Retry:       gateway.RetryConfig{MaxAttempts: 10, InitialBackoff: 2 * time.Second, MaxBackoff: 10 * time.Minute, MaxAge: 24 * time.Hour},
		Breaker:     gateway.BreakerConfig{ConsecutiveFailures: 5, Cooldown: 30 * time.Second},
		SigningKeys: [][]byte{[]byte("0123456789abcdefghijklmn")},
		Filter:      "event.data.object.price > 10.0",
		Ordering:    gateway.OrderingNone,
		RateLimit:   gateway.RateLimit{Rate: 200, Burst: 200},
	}
	want.Patterns = sub.Patterns // compared below by routing
	if sub.CompiledFilter == nil {
		t.Error("the filter was not compiled")
	}
	want.CompiledFilter = sub.CompiledFilter
	if !reflect.DeepEqual(*sub, want) {
		t.Errorf("subscriber =\n%+v\nwant\n%+v", *sub, want)
	}
	routes := []struct {
		source, typ string
		want        []string
	}{
		{"iimmpact", "iimmpact.product.updated", []string{"search-indexer"}},
		{"iimmpact", "iimmpact.option.deleted", []string{"search-indexer"}},
		{"iimmpact", "iimmpact.category.created", nil},
		{"catalog360", "catalog360.option.a.b", nil}, // not one of its sources
	}
	for _, r := range routes {
		if got := cfg.Routes(r.source, r.typ); !reflect.DeepEqual(got, r.want) {
			t.Errorf("Routes(%q, %q) = %v, want %v", r.source, r.typ, got, r.want)
		}
	}
}

func TestParseConfigDefaults(t *testing.T) {
	cfg := mustParse(t, minimal+`subscribers:
  indexer:
    url: http://127.0.0.1:8000/hooks
    secret: `+whsec+`
`, nil)
	if got, want := cfg.Server, (gateway.ServerConfig{Listen: "127.0.0.1:8080", MaxBody: 5 << 20, MaxPendingBytes: 64 << 20,
		MaxPendingBytesPerClient: 16 << 20, MaxConnsPerClient: 256, MinUploadRate: 16 << 10}); got != want {
		t.Errorf("Server = %+v, want %+v", got, want)
	}
	if cfg.Admin.Listen != "127.0.0.1:9090" || cfg.Admin.Token != "" {
		t.Errorf("Admin = %+v", cfg.Admin)
	}
	if got, want := cfg.Store, (gateway.StoreConfig{Path: "./data", Retention: 168 * time.Hour, DedupeWindow: 72 * time.Hour, TombstoneWindow: 720 * time.Hour}); got != want {
		t.Errorf("Store = %+v, want %+v", got, want)
	}
	sub := cfg.Subscribers["indexer"]
	want := config.DefaultSubscriber()
	if !reflect.DeepEqual(sub.Events, []string{"**"}) || sub.Sources != nil || sub.Timeout != want.Timeout ||
		sub.MaxInFlight != want.MaxInFlight || sub.Retry != want.Retry || sub.Breaker != want.Breaker {
		t.Errorf("subscriber = %+v, want the defaults %+v", sub, want)
	}
	if got := cfg.Routes("iimmpact", "iimmpact.anything.at.all"); !reflect.DeepEqual(got, []string{"indexer"}) {
		t.Errorf("Routes = %v, want [indexer]", got)
	}
}

func TestParseConfigRedisDefaults(t *testing.T) {
	cfg := mustParse(t, minimal+"store:\n  redis:\n    url: redis://localhost:6379/0\n", nil)
	if cfg.Store.Redis == nil || cfg.Store.Redis.Prefix != "hookgate" || cfg.Store.Redis.MinReplicas != gateway.ReplicasAuto {
		t.Errorf("Store.Redis = %+v, want the prefix defaulted and min_replicas auto", cfg.Store.Redis)
	}
}

// TestParseConfigMinReplicas: store.redis.min_replicas is auto or a count
// >= 0; anything else is an error placed by line and key.
func TestParseConfigMinReplicas(t *testing.T) {
	tests := []struct {
		value   string
		want    gateway.MinReplicas
		wantErr string
	}{
		{value: "auto", want: gateway.ReplicasAuto},
		{value: "", want: gateway.ReplicasAuto},
		{value: "0", want: gateway.FixedReplicas(0)},
		{value: "1", want: gateway.FixedReplicas(1)},
		{value: "3", want: gateway.FixedReplicas(3)},
		{value: "${MIN_REPLICAS:-2}", want: gateway.FixedReplicas(2)},
		{value: "-1", wantErr: "config.yaml:8: store.redis.min_replicas: must be auto or a number of replicas >= 0"},
		{value: "Auto", wantErr: "config.yaml:8: store.redis.min_replicas: must be auto or a number of replicas >= 0"},
		{value: "1.5", wantErr: "config.yaml:8: store.redis.min_replicas: must be auto or a number of replicas >= 0"},
		{value: `"2"`, wantErr: "config.yaml:8: store.redis.min_replicas: must be auto or a number of replicas >= 0"},
		{value: "off", wantErr: "config.yaml:8: store.redis.min_replicas: must be auto or a number of replicas >= 0"},
		{value: "[1]", wantErr: "config.yaml:8: store.redis.min_replicas: must be auto or a number of replicas, got a list"},
	}
	for _, tc := range tests {
		src := minimal + "store:\n  redis:\n    url: redis://localhost:6379/0\n    min_replicas: " + tc.value + "\n"
		if tc.wantErr != "" {
			checkErrLines(t, errLines(t, src, nil), []string{tc.wantErr})
			continue
		}
		cfg := mustParse(t, src, nil)
		if got := cfg.Store.Redis.MinReplicas; got != tc.want {
			t.Errorf("min_replicas: %s = %v (%+v), want %v", tc.value, got, got, tc.want)
		}
		if shown, want := config.Redacted(cfg), "min_replicas: "+tc.want.String()+"\n"; !strings.Contains(shown, want) {
			t.Errorf("min_replicas: %s: Redacted does not show %q:\n%s", tc.value, want, shown)
		}
	}
}

func TestParseConfigSecretScalarOrList(t *testing.T) {
	const other = "whsec_YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4"
	tests := []struct {
		name   string
		secret string
		want   []gateway.Secret
	}{
		{"scalar", whsec, []gateway.Secret{whsec}},
		{"flow list", "[" + whsec + ", " + other + "]", []gateway.Secret{whsec, other}},
		{"block list", "\n      - " + whsec + "\n      - " + other, []gateway.Secret{whsec, other}},
		{"unpadded base64", "whsec_MDEyMzQ1Njc4OWFiY2RlZmc", []gateway.Secret{"whsec_MDEyMzQ1Njc4OWFiY2RlZmc"}},
		{"padded base64", "whsec_MDEyMzQ1Njc4OWFiY2RlZmc=", []gateway.Secret{"whsec_MDEyMzQ1Njc4OWFiY2RlZmc="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, minimal+"subscribers:\n  s:\n    url: https://x.example/h\n    secret: "+tt.secret+"\n", nil)
			sub := cfg.Subscribers["s"]
			if !reflect.DeepEqual(sub.Secrets, tt.want) {
				t.Errorf("Secrets = %q, want %q", sub.Secrets, tt.want)
			}
			if len(sub.SigningKeys) != len(tt.want) {
				t.Errorf("%d signing keys, want %d", len(sub.SigningKeys), len(tt.want))
			}
		})
	}
}

func TestParseConfigDurationsAndSizes(t *testing.T) {
	cfg := mustParse(t, minimal+`server:
  max_body: 512KB
store:
  retention: 2h30m
  dedupe_window: 90m
subscribers:
  s:
    url: https://x.example/h
    secret: `+whsec+`
    timeout: 1500ms
    retry: {initial_backoff: 250ms, max_backoff: 1m, max_age: 2h}
`, nil)
	if cfg.Server.MaxBody != 512<<10 {
		t.Errorf("max_body = %d", cfg.Server.MaxBody)
	}
	if cfg.Store.Retention != 150*time.Minute || cfg.Store.DedupeWindow != 90*time.Minute {
		t.Errorf("store = %+v", cfg.Store)
	}
	sub := cfg.Subscribers["s"]
	if sub.Timeout != 1500*time.Millisecond || sub.Retry.InitialBackoff != 250*time.Millisecond ||
		sub.Retry.MaxBackoff != time.Minute || sub.Retry.MaxAttempts != config.DefaultMaxAttempts {
		t.Errorf("subscriber = %+v", sub)
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := config.Load("testdata/config/does-not-exist.yaml")
	if cfg != nil || err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, %v; want an os.ErrNotExist error", cfg, err)
	}
	t.Setenv("IIMMPACT_WEBHOOK_SECRET", "from-the-environment")
	t.Setenv("CATALOG360_WEBHOOK_KEY", "c360")
	t.Setenv("SEARCH_INDEXER_SECRET", whsec)
	cfg, err = config.Load("testdata/config/spec.yaml")
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	if got := cfg.Sources["iimmpact"].Secrets[0].Reveal(); got != "from-the-environment" {
		t.Errorf("iimmpact secret = %q, want the environment's", got)
	}
}

// Validate checks a Config built in code and fills the derived fields,
// as loading does.
func TestConfigValidate(t *testing.T) {
	cfg := config.Default()
	cfg.Sources = map[string]*gateway.SourceConfig{"iimmpact": {Provider: "iimmpact", Secrets: []gateway.Secret{"k"}}}
	sub := config.DefaultSubscriber()
	sub.URL = "http://127.0.0.1:1/h"
	sub.Secrets = []gateway.Secret{whsec}
	sub.Events = []string{"iimmpact.product.*"}
	cfg.Subscribers = map[string]*gateway.SubscriberConfig{"s": sub}
	if err := config.Validate(cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if sub.Name != "s" || cfg.Sources["iimmpact"].Name != "iimmpact" || len(sub.SigningKeys) != 1 || len(sub.Patterns) != 1 {
		t.Errorf("derived fields not filled: %+v", sub)
	}
	if got := cfg.Routes("iimmpact", "iimmpact.product.updated"); !reflect.DeepEqual(got, []string{"s"}) {
		t.Errorf("Routes = %v, want [s]", got)
	}

	sub.Timeout = 0
	cfg.Store.Retention = 0
	err := config.Validate(cfg)
	want := "store.retention: must be > 0\nsubscribers.s.timeout: must be > 0"
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want\n%s", err, want)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "store.retention" {
		t.Errorf("errors.As(Error) = %v, want the first error", ce)
	}
}

// TestOpSourceRouting: hookgate is a source name a subscriber may list
// without configuring it, and it is the only way to get the gateway's
// own events: a subscriber of every event ("**", all sources) does not.
func TestOpSourceRouting(t *testing.T) {
	src := minimal + "subscribers:\n" +
		"  ops:\n    url: https://ops.example/h\n    secret: " + whsec + "\n    sources: [hookgate]\n    events: [\"hookgate.delivery.dead\", \"hookgate.subscriber.*\"]\n" +
		"  all:\n    url: https://all.example/h\n    secret: " + whsec + "\n" +
		"  both:\n    url: https://both.example/h\n    secret: " + whsec + "\n    sources: [iimmpact, hookgate]\n"
	cfg, err := config.Parse("config.yaml", []byte(src), envMap(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	cases := []struct {
		source, typ string
		want        []string
	}{
		{"hookgate", "hookgate.delivery.dead", []string{"both", "ops"}},
		{"hookgate", "hookgate.subscriber.paused", []string{"both", "ops"}},
		{"iimmpact", "iimmpact.product.updated", []string{"all", "both"}},
	}
	for _, c := range cases {
		if got := cfg.Routes(c.source, c.typ); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Routes(%s, %s) = %v, want %v", c.source, c.typ, got, c.want)
		}
	}
}
