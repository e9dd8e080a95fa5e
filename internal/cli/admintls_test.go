package cli

import (
	"strings"
	"testing"
)

// TestCheckAdminCleartext: `hookgate check` warns (exit 0) when the admin
// token would cross the network in clear, and not when admin.tls is set
// or the listener is loopback; the token is never shown.
func TestCheckAdminCleartext(t *testing.T) {
	const token = "TOPSECRET-admin-token"
	const warning = "admin.tls: the admin listener 10.0.0.5:9090 is not loopback and serves plain HTTP"
	tests := []struct {
		name, admin string
		warn        bool
	}{
		{"private address, plain HTTP", `{listen: "10.0.0.5:9090", token: "` + token + `"}`, true},
		{"private address, admin.tls", `{listen: "10.0.0.5:9090", token: "` + token + `", tls: {cert_file: c.pem, key_file: k.pem}}`, false},
		{"loopback", `{listen: "127.0.0.1:9090", token: "` + token + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := check(t, "-config", writeConfig(t, validCheckConfig+"admin: "+tt.admin+"\n"))
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if got := strings.Contains(stdout, warning); got != tt.warn {
				t.Errorf("warned %v, want %v:\n%s", got, tt.warn, stdout)
			}
			if strings.Contains(stdout+stderr, token) {
				t.Errorf("check shows the token:\n%s", stdout)
			}
		})
	}
}

// TestCheckWeakAdminToken: a short token, or one with whitespace, is a
// config error at its line naming admin.token, never quoting the token.
func TestCheckWeakAdminToken(t *testing.T) {
	for _, token := range []string{"a", " ", "TOPSECRET", "TOPSECRET TOPSECRET"} {
		_, stderr, code := check(t, "-config", writeConfig(t, validCheckConfig+"admin:\n  token: \""+token+"\"\n"))
		if code != exitError || !strings.Contains(stderr, "config.yaml:18: admin.token: must ") {
			t.Errorf("token %q: exit %d, stderr:\n%s\nwant exit 1 and config.yaml:18: admin.token", token, code, stderr)
		}
		if strings.Contains(stderr, "TOPSECRET") {
			t.Errorf("token %q: the error shows it:\n%s", token, stderr)
		}
	}
}
