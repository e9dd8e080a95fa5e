package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/gateway/filter"
)

// filterConfig is a valid config whose subscriber "s" has the filter
// value given (the text after `filter:`, up to the end of the file); the
// filter's key is on line 9.
func filterConfig(value string) string {
	return minimal + `subscribers:
  s:
    url: http://127.0.0.1:1/s
    secret: ` + whsec + `
    filter: ` + value + "\n"
}

// TestFilterCompileErrors: a filter that does not compile, does not type
// check, is not a bool, is too long or too costly is refused at load with
// the file, the line of its value, its key and CEL's reason on one line.
func TestFilterCompileErrors(t *testing.T) {
	long := `'event.type == "` + strings.Repeat("x", filter.MaxLength) + `"'`
	list := "[" + strings.TrimSuffix(strings.Repeat("1,", 100), ",") + "]"
	tests := []struct {
		name  string
		value string
		want  string // the whole error line
	}{
		{"string compared to int", `'event.type == 3'`,
			`config.yaml:9: subscribers.s.filter: column 12: found no matching overload for '_==_' applied to '(string, int)'`},
		{"unknown field", `'event.typo == "x"'`,
			`config.yaml:9: subscribers.s.filter: column 6: undefined field 'typo'`},
		{"unknown variable", `'evnt.type == "x"'`,
			`config.yaml:9: subscribers.s.filter: column 1: undeclared reference to 'evnt' (did you mean 'event'?)`},
		{"not a bool", `'event.type'`,
			`config.yaml:9: subscribers.s.filter: must be a bool expression, got string`},
		{"string function given an int", `'event.type.startsWith(1)'`,
			`config.yaml:9: subscribers.s.filter: column 22: found no matching overload for 'startsWith' applied to 'string.(int)'`},
		{"syntax", `'event.type =='`,
			`config.yaml:9: subscribers.s.filter: column 14: Syntax error: mismatched input '<EOF>'`},
		{"several lines, error on the second", "|\n      event.type == \"x\" &&\n        event.subject > 1",
			`config.yaml:9: subscribers.s.filter: line 2, column 17: found no matching overload for '_>_' applied to '(string, int)'`},
		{"too long", long,
			fmt.Sprintf(`config.yaml:9: subscribers.s.filter: expression code point size exceeds limit: size: %d, limit %d`,
				filter.MaxLength+16, filter.MaxLength)},
		{"costs over the limit whatever the event", `'` + list + `.map(x, ` + list + `.map(y, y)).size() > 0'`,
			`config.yaml:9: subscribers.s.filter: costs at least 133323 to evaluate, over the limit of 10000`},
		{"not a string", `[event.type]`,
			`config.yaml:9: subscribers.s.filter: must be a string, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errLines(t, filterConfig(tt.value), nil)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestFilterCompileErrorsAll: every bad filter of a file is reported, each
// at its own line.
func TestFilterCompileErrorsAll(t *testing.T) {
	src := minimal + `subscribers:
  a:
    url: http://127.0.0.1:1/a
    secret: ` + whsec + `
    filter: 'event.type == 3'
  b:
    url: http://127.0.0.1:1/b
    secret: ` + whsec + `
    filter: 'event.data.object.is_active == true'
  c:
    url: http://127.0.0.1:1/c
    secret: ` + whsec + `
    filter: "event.typo"
`
	got := errLines(t, src, nil)
	want := []string{
		`config.yaml:9: subscribers.a.filter: column 12: found no matching overload for '_==_' applied to '(string, int)'`,
		`config.yaml:17: subscribers.c.filter: column 6: undefined field 'typo'`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFilterCompiles: filters that check load compiled; a blank one is
// no filter.
func TestFilterCompiles(t *testing.T) {
	tests := []struct {
		value string
		want  bool // compiled: the subscriber has a filter
	}{
		{`'event.data.object.is_active == true && event.type.startsWith("iimmpact.product.")'`, true},
		{`'event.data.object.is_active'`, true}, // dyn: checked when it runs
		{`'event.data.object.price > 10'`, true},
		{`'has(event.data.previous) && event.data.previous.price != event.data.object.price'`, true},
		{`'event.data.object.?is_active.orValue(false)'`, true},
		{`'event.data.object.name.lowerAscii().contains("celcom")'`, true},
		{`'timestamp(event.time) > timestamp("2024-01-01T00:00:00Z")'`, true},
		{`''`, false},
		{`'  '`, false},
		{``, false},
	}
	for _, tt := range tests {
		cfg := mustParse(t, filterConfig(tt.value), nil)
		if got := cfg.Subscribers["s"].CompiledFilter != nil; got != tt.want {
			t.Errorf("filter: %s: compiled %v, want %v", tt.value, got, tt.want)
		}
	}
}

// TestFilterValidateInCode: a Config built in code gets its filter
// compiled (or refused) by Validate, as a loaded one does.
func TestFilterValidateInCode(t *testing.T) {
	cfg := mustParse(t, filterConfig(`'event.type == "x"'`), nil)
	cfg.Path = ""
	sub := cfg.Subscribers["s"]
	sub.Filter, sub.CompiledFilter = "event.type == 3", nil
	err := config.Validate(cfg)
	if err == nil || !strings.Contains(err.Error(), "subscribers.s.filter: column 12: found no matching overload") {
		t.Fatalf("Validate: %v, want the filter's type error", err)
	}
	sub.Filter = `event.source == "iimmpact"`
	if err := config.Validate(cfg); err != nil || sub.CompiledFilter == nil || sub.CompiledFilter.String() != sub.Filter {
		t.Fatalf("Validate: %v, compiled %v; want the filter compiled", err, sub.CompiledFilter)
	}
}
