package config_test

import (
	"strings"
	"testing"
)

// deepConfig has its subscribers' settings in nested blocks, so that a
// syntax error deep in it is far from the block yaml.v3 was parsing.
const deepConfig = `sources:
  iimmpact:
    provider: iimmpact
    secrets: ["s3cret-iimmpact"]
subscribers:
  search:
    url: https://search.example/h
    secret: ` + whsec + `
    events: ["iimmpact.product.*"]
    retry:
      max_attempts: 3
      max_age: 1h
  billing:
    url: https://billing.example/h
    secret: ` + whsec + `
    timeout: 5s
    headers:
      X-Team: billing
    retry:
      max_attempts: 5
      initial_backoff: 1s
      max_age: 2h
`

// withLine returns deepConfig with line n (1-based) replaced by text.
func withLine(t *testing.T, n int, text string) string {
	t.Helper()
	lines := strings.Split(deepConfig, "\n")
	if n < 1 || n > len(lines)-1 || strings.TrimSpace(lines[n-1]) == "" {
		t.Fatalf("deepConfig has no line %d", n)
	}
	lines[n-1] = text
	return strings.Join(lines, "\n")
}

// TestParseConfigSyntaxErrorLines places every YAML syntax error at the
// line (and column) a reader would point at, whatever line yaml.v3 names
// in its message, and keeps yaml.v3's reason.
func TestParseConfigSyntaxErrorLines(t *testing.T) {
	mustParse(t, deepConfig, nil)
	tests := []struct {
		name string
		src  string
		want string
	}{
		{name: "bad indent deep in subscribers", src: withLine(t, 21, "     initial_backoff: 1s"),
			want: "config.yaml:21: invalid YAML: column 6: did not find expected key"},
		{name: "sibling key indented less than the first", src: withLine(t, 15, "   secret: "+whsec),
			want: "config.yaml:15: invalid YAML: column 4: did not find expected key"},
		{name: "key indented too far", src: withLine(t, 16, "      timeout: 5s"),
			want: "config.yaml:16: invalid YAML: column 14: mapping values are not allowed in this context"},
		{name: "subscriber indented too little", src: withLine(t, 13, " billing:"),
			want: "config.yaml:13: invalid YAML: column 2: did not find expected key"},
		{name: "tab indent", src: withLine(t, 16, "\ttimeout: 5s"),
			want: "config.yaml:16: invalid YAML: column 1: found a tab character that violates indentation"},
		{name: "tab indent after a block", src: withLine(t, 19, "\tretry:"),
			want: "config.yaml:19: invalid YAML: column 1: found a tab character that violates indentation"},
		{name: "unclosed double quote", src: withLine(t, 14, `    url: "https://billing.example/h`),
			want: "config.yaml:14: invalid YAML: column 10: found unexpected end of stream"},
		{name: "unclosed single quote", src: withLine(t, 7, `    url: 'https://search.example/h`),
			want: "config.yaml:7: invalid YAML: column 10: found unexpected end of stream"},
		{name: "unclosed flow sequence", src: withLine(t, 9, `    events: ["iimmpact.product.*"`),
			want: "config.yaml:9: invalid YAML: column 33: did not find expected ',' or ']'"},
		{name: "unclosed flow sequence on the first lines", src: withLine(t, 4, `    secrets: ["s3cret-iimmpact"`),
			want: "config.yaml:4: invalid YAML: column 31: did not find expected ',' or ']'"},
		{name: "duplicate key", src: withLine(t, 16, "    url: https://billing.example/h2"),
			want: "config.yaml:16: subscribers.billing.url: duplicate key (first at line 14)"},
		{name: "stray colon", src: withLine(t, 16, "    timeout: 5s: 2s"),
			want: "config.yaml:16: invalid YAML: column 16: mapping values are not allowed in this context"},
		{name: "stray colon on a line of its own", src: withLine(t, 20, "      :"),
			want: "config.yaml:20: invalid YAML: column 7: did not find expected key"},
		{name: "key without colon", src: withLine(t, 16, "    timeout 5s"),
			want: "config.yaml:16: invalid YAML: column 5: could not find expected ':'"},
		{name: "list item in a mapping", src: withLine(t, 16, "    - 5s"),
			want: "config.yaml:16: invalid YAML: column 5: did not find expected key"},
		{name: "bad indent in the first block", src: withLine(t, 4, `   secrets: ["s3cret-iimmpact"]`),
			want: "config.yaml:4: invalid YAML: column 4: did not find expected key"},
		{name: "control character", src: withLine(t, 18, "      X-Team: bill\x01ing"),
			want: "config.yaml:18: invalid YAML: column 19: control characters are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrLines(t, errLines(t, tt.src, nil), []string{tt.want})
		})
	}
}
