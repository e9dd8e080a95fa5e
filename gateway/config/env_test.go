package config

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"SET": "value", "EMPTY": "", "MULTI": "a\nb",
		"NEL": "x\u0085  evil: {url: http://attacker/}", "LS": "x\u2028y", "PS": "x\u2029y", "NUL": "x\x00y", "ESC": "x\x1by", "TAB": "a\tb"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string // substring of the only error, "" for none
	}{
		{name: "set", in: "a: ${SET}", want: "a: value"},
		{name: "unset", in: "a: ${NOPE}", want: "a: "},
		{name: "default when unset", in: "a: ${NOPE:-dflt}", want: "a: dflt"},
		{name: "default when empty", in: "a: ${EMPTY:-dflt}", want: "a: dflt"},
		{name: "default ignored when set", in: "a: ${SET:-dflt}", want: "a: value"},
		{name: "empty default", in: "a: '${NOPE:-}'", want: "a: ''"},
		{name: "default with colon and dash", in: "a: ${NOPE:-http://x:1/-y}", want: "a: http://x:1/-y"},
		{name: "dollar dollar", in: "a: pa$$word", want: "a: pa$word"},
		{name: "escaped reference", in: "a: $${SET}", want: "a: ${SET}"},
		{name: "lone dollar", in: "a: $5 and $SET$", want: "a: $5 and $SET$"},
		{name: "two on a line", in: `a: ["${SET}", "${SET}"]`, want: `a: ["value", "value"]`},
		{name: "comment untouched", in: "  # ${UNTERMINATED and $$", want: "  # ${UNTERMINATED and $$"},
		{name: "lines kept", in: "a: ${SET}\n\nb: ${NOPE}\n", want: "a: value\n\nb: \n"},
		{name: "unterminated", in: "a: ${SET", want: "a: ${SET", wantErr: "config.yaml:1: unterminated ${"},
		{name: "bad name", in: "a: ${1X}", want: "a: ", wantErr: "config.yaml:1: invalid variable name in ${1X}"},
		{name: "line break refused", in: "x: 1\na: ${MULTI}", want: "x: 1\na: ", wantErr: "config.yaml:2: ${MULTI}: value contains a line break"},
		// yaml.v3 also breaks lines on NEL, LS and PS: a value holding one
		// could add keys of its own to the file.
		{name: "NEL refused", in: "a: ${NEL}", want: "a: ", wantErr: "config.yaml:1: ${NEL}: value contains a line break"},
		{name: "LS refused", in: "a: ${LS}", want: "a: ", wantErr: "config.yaml:1: ${LS}: value contains a line break"},
		{name: "PS refused", in: "a: ${PS}", want: "a: ", wantErr: "config.yaml:1: ${PS}: value contains a line break"},
		{name: "NUL refused", in: "a: ${NUL}", want: "a: ", wantErr: "config.yaml:1: ${NUL}: value contains a control character"},
		{name: "ESC refused", in: "a: ${ESC}", want: "a: ", wantErr: "config.yaml:1: ${ESC}: value contains a control character"},
		{name: "tab kept", in: "a: ${TAB}", want: "a: a\tb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := expandEnv("config.yaml", []byte(tt.in), lookup)
			if string(got.data) != tt.want {
				t.Errorf("expanded = %q, want %q", got.data, tt.want)
			}
			switch {
			case tt.wantErr == "" && len(got.errs) > 0:
				t.Errorf("errors = %v, want none", got.errs)
			case tt.wantErr != "" && (len(got.errs) != 1 || !strings.Contains(got.errs[0].Error(), tt.wantErr)):
				t.Errorf("errors = %v, want one containing %q", got.errs, tt.wantErr)
			}
		})
	}
}

func TestExpandEnvHints(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "EMPTY" {
			return "", true
		}
		return "", false
	}
	src := "a: [\"${A}\", \"${EMPTY}\"]\nb: ${B:-}\n"
	got := expandEnv("config.yaml", []byte(src), lookup)
	tests := []struct {
		line, col int
		want      string
	}{
		{1, 5, " (A is unset)"},             // first quoted item: `["", ""]`, column of its quote
		{1, 9, " (EMPTY is set but empty)"}, // second item
		{2, 4, " (B is unset)"},
		{3, 1, ""},
	}
	for _, tt := range tests {
		if h := got.emptyHint(tt.line, tt.col); h != tt.want {
			t.Errorf("emptyHint(%d, %d) = %q, want %q", tt.line, tt.col, h, tt.want)
		}
	}
}

// A variable's value is data, never YAML: quotes and backslashes in a
// double-quoted reference come through unchanged, and a value that would
// change the structure of a plain scalar is refused.
func TestExpandEnvValueIsNotYAML(t *testing.T) {
	tests := []struct {
		name, line, val string
		want            string // the decoded value; "" with wantErr
		wantErr         bool
	}{
		{"double quotes keep a backslash", `k: "${V}"`, `s3cr\et`, `s3cr\et`, false},
		{"double quotes keep a quote", `k: "${V}"`, `a", "b`, `a", "b`, false},
		{"single quotes keep a quote", `k: '${V}'`, `it's`, `it's`, false},
		{"plain keeps a url", `k: ${V}`, `redis://u:p%40ss@host:6379/0`, `redis://u:p%40ss@host:6379/0`, false},
		{"plain refuses a comment", `k: ${V}`, `abc #x`, "", true},
		{"plain refuses a flow list", `k: ${V}`, `[a, b]`, "", true},
		{"plain refuses a mapping", `k: ${V}`, `a: b`, "", true},
		{"trailing comment is not expanded", `k: "x" # ${V}`, "\n", "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(string) (string, bool) { return tt.val, true }
			exp := expandEnv("c.yaml", []byte(tt.line), env)
			if tt.wantErr {
				if len(exp.errs) == 0 {
					t.Fatalf("expanded to %q, want an error", exp.data)
				}
				if strings.Contains(exp.errs[0].Error(), tt.val) {
					t.Errorf("error %q quotes the value", exp.errs[0])
				}
				return
			}
			if len(exp.errs) > 0 {
				t.Fatalf("unexpected error: %v", exp.errs[0])
			}
			var got map[string]string
			if err := yaml.Unmarshal(exp.data, &got); err != nil {
				t.Fatalf("yaml of %q: %v", exp.data, err)
			}
			if got["k"] != tt.want {
				t.Errorf("k = %q, want %q (expanded %q)", got["k"], tt.want, exp.data)
			}
		})
	}
}
