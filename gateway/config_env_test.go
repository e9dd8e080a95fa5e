package gateway

import (
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"SET": "value", "EMPTY": "", "MULTI": "a\nb"}
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
