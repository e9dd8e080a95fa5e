package cli

import (
	"strings"
	"testing"
)

// transformCheckConfig gives the subscriber "everything" of
// filterCheckConfig a transform over two lines; its key is on line 19.
var transformCheckConfig = filterCheckConfig + `    transform: |
      {"id": event.data.object.product_code,
       "kind": event.type}
`

// A subscriber's transform is printed with it, on one line.
func TestCheckTransform(t *testing.T) {
	path := writeConfig(t, transformCheckConfig)
	stdout, stderr, code := check(t, "-config", path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := "  everything\n" +
		"    url:       http://127.0.0.1:8000/all\n" +
		"    events:    **\n" +
		"    sources:   all\n" +
		"    secrets:   1\n" +
		`    transform: {"id": event.data.object.product_code, "kind": event.type}` + "\n"
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks\n%s\nin:\n%s", want, stdout)
	}
}

// A transform with a type error, or of a type JSON cannot hold, fails
// check, placed at its line, with the reason on the same line.
func TestCheckTransformErrors(t *testing.T) {
	tests := []struct{ name, from, to, want string }{
		{"type error", `"kind": event.type}`, `"kind": event.type + 1}`,
			":19: subscribers.everything.transform: line 2, column 21: found no matching overload for '_+_' applied to '(string, int)'\n"},
		{"unknown field", `"kind": event.type}`, `"kind": event.kind}`,
			":19: subscribers.everything.transform: line 2, column 15: undefined field 'kind'\n"},
		{"int keys", "{\"id\": event.data.object.product_code,\n       \"kind\"", "{1: event.data.object.product_code,\n       2",
			":19: subscribers.everything.transform: is a map with int keys; JSON object keys are strings\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, strings.Replace(transformCheckConfig, tt.from, tt.to, 1))
			stdout, stderr, code := check(t, "-config", path)
			if code != exitError || stdout != "" {
				t.Fatalf("exit %d, want %d; stdout:\n%s", code, exitError, stdout)
			}
			if want := path + tt.want + path + ": 1 error\n"; stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
			}
		})
	}
}
