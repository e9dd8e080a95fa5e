package config_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/config"
)

// FuzzParseConfig feeds arbitrary files to Parse: it must never
// panic, every error must be a placed Error (a syntax error on one of the
// file's lines), and a config it accepts must validate again unchanged.
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/config/*.yaml")
	seeds = append(seeds, "../../config.yaml")
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("sources: {a: {<<: [{provider: iimmpact}], secrets: ${A:-$$}}}\n"))
	env := envMap(map[string]string{"A": "x", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("config.yaml", data, env)
		if err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T %v, want Errors", err, err)
			}
			for _, e := range errs {
				if e.File != "config.yaml" || e.Err == nil {
					t.Fatalf("error %+v not placed in the file", e)
				}
				if strings.HasPrefix(e.Err.Error(), "invalid YAML: column ") && (e.Line < 1 || e.Line > bytes.Count(data, []byte("\n"))+1) {
					t.Fatalf("syntax error %v placed outside the file's lines", e)
				}
			}
			return
		}
		if err := config.Validate(cfg); err != nil {
			t.Fatalf("accepted config does not validate again: %v", err)
		}
		_ = config.Redacted(cfg)
	})
}
