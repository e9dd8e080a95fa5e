package config_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/config"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestParseConfigEveryError loads a file with many problems: every one is
// reported, each placed by line and key, in file order, and no secret's
// value appears anywhere in the text.
func TestParseConfigEveryError(t *testing.T) {
	const path = "testdata/config/broken.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, data, envMap(map[string]string{"REDIS_URL": ""}))
	if err == nil {
		t.Fatalf("Parse succeeded:\n%s", config.Redacted(cfg))
	}
	errs, ok := err.(config.Errors)
	if !ok {
		t.Fatalf("error is %T, want config.Errors", err)
	}
	var b strings.Builder
	for _, e := range errs {
		if e.File != path || e.Key == "" {
			t.Errorf("error %q: File %q, Key %q; want the file and a key", e, e.File, e.Key)
		}
		fmt.Fprintln(&b, e)
	}
	got := b.String()
	if strings.Contains(got, "TOPSECRET") || strings.Contains(got, "VE9QU0VDUkVU") {
		t.Errorf("a secret leaked into the errors:\n%s", got)
	}
	if got != err.Error()+"\n" {
		t.Errorf("Errors.Error() is not one error per line:\n%s", err)
	}
	golden(t, "testdata/config/broken.golden", got)
}

// golden compares got with the file at path, or rewrites it under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant (%s):\n%s", got, path, want)
	}
}

// TestConfigNeverPrintsSecrets formats a loaded config every way an
// operator or a log line might.
func TestConfigNeverPrintsSecrets(t *testing.T) {
	src := `admin:
  token: TOPSECRET-admin-token
store:
  redis: {url: "redis://:TOPSECRET-redis@localhost:6379/0"}
sources:
  iimmpact:
    provider: iimmpact
    secrets: [TOPSECRET-source]
subscribers:
  s:
    url: https://user:TOPSECRET-pw@x.example/h
    secret: ` + whsec + `
    headers: {Authorization: "Bearer TOPSECRET-header"}
`
	cfg := mustParse(t, src, nil)
	// Header values and URL passwords are plain strings that the
	// delivery engine needs as they are, so only Redacted hides them.
	outputs := map[string]string{
		"Redacted":       config.Redacted(cfg),
		"%v":             fmt.Sprintf("%v", cfg),
		"%+v":            fmt.Sprintf("%+v", *cfg),
		"%+v redacted":   fmt.Sprintf("%+v", config.Redacted(cfg)),
		"%#v":            fmt.Sprintf("%#v", *cfg),
		"%+v admin":      fmt.Sprintf("%+v", cfg.Admin),
		"%+v redis":      fmt.Sprintf("%+v", *cfg.Store.Redis),
		"%+v source":     fmt.Sprintf("%+v", *cfg.Sources["iimmpact"]),
		"%v sub secrets": fmt.Sprintf("%v", cfg.Subscribers["s"].Secrets),
	}
	for name, out := range outputs {
		for _, secret := range []string{"TOPSECRET", whsec} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret:\n%s", name, out)
			}
		}
	}
	if sub := cfg.Subscribers["s"]; sub.Headers["Authorization"] != "Bearer TOPSECRET-header" || sub.URL != "https://user:TOPSECRET-pw@x.example/h" {
		t.Errorf("Redacted changed the config itself: %+v", sub)
	}
	if !strings.Contains(config.Redacted(cfg), "token: '[redacted]'") {
		t.Errorf("Redacted does not show the token as redacted:\n%s", config.Redacted(cfg))
	}
}
