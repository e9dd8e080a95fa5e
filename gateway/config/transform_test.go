package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// transformConfig is a valid config whose subscriber "s" has the
// transform value given (the text after `transform:`, up to the end of
// the file); the transform's key is on line 9.
func transformConfig(value string) string {
	return minimal + `subscribers:
  s:
    url: http://127.0.0.1:1/s
    secret: ` + whsec + `
    transform: ` + value + "\n"
}

// TestTransformCompileErrors: a transform that does not compile, does not
// type check, has a type JSON cannot hold or costs too much whatever the
// event is refused at load with the file, the line of its value, its key
// and the reason on one line.
func TestTransformCompileErrors(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"unknown field", `'{"t": event.typo}'`,
			`config.yaml:9: subscribers.s.transform: column 12: undefined field 'typo'`},
		{"wrong types", `'event.type + 1'`,
			`config.yaml:9: subscribers.s.transform: column 12: found no matching overload for '_+_' applied to '(string, int)'`},
		{"syntax", `'{"t": event.type'`,
			`config.yaml:9: subscribers.s.transform: column 17: Syntax error: mismatched input '<EOF>'`},
		{"bytes", `'bytes(event.type)'`,
			`config.yaml:9: subscribers.s.transform: is of type bytes, which JSON cannot hold`},
		{"int keys", `'{1: event.type}'`,
			`config.yaml:9: subscribers.s.transform: is a map with int keys; JSON object keys are strings`},
		{"several lines, error on the second", "|\n      {\"id\": event.id,\n       \"n\": event.subject - 1}",
			`config.yaml:9: subscribers.s.transform: line 2, column 21: found no matching overload for '_-_' applied to '(string, int)'`},
		{"not a string", `[event.type]`,
			`config.yaml:9: subscribers.s.transform: must be a string, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errLines(t, transformConfig(tt.value), nil)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestTransformCompiles: transforms that check load compiled, with the
// largest body limit as their size limit; a blank one is no transform.
func TestTransformCompiles(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{`'{"code": event.data.object.product_code, "price": event.data.object.price}'`, true},
		{`'event.data'`, true},
		{`'event.data.object.name'`, true}, // dyn: checked when it runs
		{`'[event.type, event.subject]'`, true},
		{`'event.data.object.transformMap(k, v, v != null, v)'`, true},
		{`''`, false},
		{`'  '`, false},
		{``, false},
	}
	for _, tt := range tests {
		cfg := mustParse(t, transformConfig(tt.value), nil)
		if got := cfg.Subscribers["s"].CompiledTransform != nil; got != tt.want {
			t.Errorf("transform: %s: compiled %v, want %v", tt.value, got, tt.want)
		}
	}
}

// TestTransformSizeLimit: a transform's value may be as large as the
// largest body a source takes, and no larger.
func TestTransformSizeLimit(t *testing.T) {
	src := "server: {max_body: 1KB, max_pending_bytes: 1MB}\n" + transformConfig(`'event.data.object.s'`)
	cfg := mustParse(t, src, nil)
	tr := cfg.Subscribers["s"].CompiledTransform
	env := gateway.NewEnvelope("iimmpact", gateway.Event{Identity: "x", Type: "iimmpact.product.updated",
		Object: []byte(`{"s":"` + strings.Repeat("a", 1100) + `"}`)}, time.Now())
	if _, err := tr.Apply(gateway.NewFilterInput(env)); err == nil || !strings.Contains(err.Error(), "size limit of 1024 bytes") {
		t.Errorf("Apply of 1100 bytes under max_body 1KB: %v, want the size limit", err)
	}
}

// TestTransformValidateInCode: a Config built in code gets its transform
// compiled (or refused) by Validate, as a loaded one does.
func TestTransformValidateInCode(t *testing.T) {
	cfg := mustParse(t, transformConfig(`'event.type'`), nil)
	cfg.Path = ""
	sub := cfg.Subscribers["s"]
	sub.Transform, sub.CompiledTransform = "event.type + 1", nil
	err := config.Validate(cfg)
	if err == nil || !strings.Contains(err.Error(), "subscribers.s.transform: column 12: found no matching overload") {
		t.Fatalf("Validate: %v, want the transform's type error", err)
	}
	sub.Transform = `{"t": event.type}`
	if err := config.Validate(cfg); err != nil || sub.CompiledTransform == nil || sub.CompiledTransform.String() != sub.Transform {
		t.Fatalf("Validate: %v, compiled %v; want the transform compiled", err, sub.CompiledTransform)
	}
}
