package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/internal/testpki"
)

// subTLSFiles writes a CA, a client pair signed by it, a second,
// unrelated pair's key, and a file with no certificate.
func subTLSFiles(t *testing.T) (ca, cert, key, otherKey, notPEM string) {
	dir := t.TempDir()
	authority := testpki.NewCA(t, "test CA")
	cert, key = authority.Client(t, "client").Write(t, dir, "client")
	_, otherKey = authority.Client(t, "other").Write(t, dir, "other")
	ca = filepath.Join(dir, "ca.pem")
	testpki.WriteFile(t, ca, authority.PEM)
	notPEM = filepath.Join(dir, "empty.pem")
	testpki.WriteFile(t, notPEM, []byte("not a certificate\n"))
	return ca, cert, key, otherKey, notPEM
}

// httpsSub is minimal plus subscriber "s" with an https url (line 7) and
// extra keys from line 9.
func httpsSub(extra string) string {
	return minimal + "subscribers:\n  s:\n    url: https://x.example/h\n    secret: " + whsec + "\n" + extra
}

func TestSubscriberTLSAndAuthRules(t *testing.T) {
	ca, cert, key, otherKey, notPEM := subTLSFiles(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	oauth := func(lines string) string { return "    auth:\n      oauth2:\n" + lines }
	const goodOAuth = "        token_url: https://auth.example/token\n        client_id: hookgate\n        client_secret: ${CS}\n"
	env := map[string]string{"CS": "TOPSECRET-client-secret"}
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{name: "tls with http url", src: minimal + "subscribers:\n  s:\n    url: http://x.example/h\n    secret: " + whsec + "\n    tls: {ca_file: " + ca + "}\n",
			want: []string{"config.yaml:9: subscribers.s.tls: needs an https url"}},
		{name: "cert without key", src: httpsSub("    tls:\n      cert_file: " + cert + "\n"),
			want: []string{"config.yaml:9: subscribers.s.tls: cert_file and key_file must be set together"}},
		{name: "cert file missing", src: httpsSub("    tls:\n      cert_file: " + missing + "\n      key_file: " + key + "\n"),
			want: []string{"config.yaml:10: subscribers.s.tls.cert_file: does not load with key_file: open " + missing}},
		{name: "key of another cert", src: httpsSub("    tls:\n      cert_file: " + cert + "\n      key_file: " + otherKey + "\n"),
			want: []string{"config.yaml:10: subscribers.s.tls.cert_file: does not load with key_file: tls: private key does not match public key"}},
		{name: "ca_file without a certificate", src: httpsSub("    tls:\n      ca_file: " + notPEM + "\n"),
			want: []string{"config.yaml:10: subscribers.s.tls.ca_file: " + notPEM + ": no PEM certificate in it"}},
		{name: "ca_file missing", src: httpsSub("    tls:\n      ca_file: " + missing + "\n"),
			want: []string{"config.yaml:10: subscribers.s.tls.ca_file: open " + missing}},
		{name: "oauth2 empty", src: httpsSub(oauth("        scopes: []\n")),
			want: []string{
				"config.yaml:10: subscribers.s.auth.oauth2.client_id: required",
				"config.yaml:10: subscribers.s.auth.oauth2.client_secret: required: an empty secret would authenticate nothing",
				"config.yaml:10: subscribers.s.auth.oauth2.token_url: required",
			}},
		{name: "client_secret from an unset variable", src: httpsSub(oauth("        token_url: https://auth.example/token\n        client_id: hookgate\n        client_secret: ${UNSET_SECRET}\n")),
			want: []string{"config.yaml:13: subscribers.s.auth.oauth2.client_secret: required: an empty secret would authenticate nothing (UNSET_SECRET is unset)"}},
		{name: "token_url plain http", src: httpsSub(oauth("        token_url: http://auth.example/token\n        client_id: hookgate\n        client_secret: ${CS}\n")),
			want: []string{"config.yaml:11: subscribers.s.auth.oauth2.token_url: must be an absolute https URL without user info (http only to a loopback host)"}},
		{name: "token_url with user info", src: httpsSub(oauth("        token_url: https://u:TOPSECRET-pw@auth.example/token\n        client_id: hookgate\n        client_secret: ${CS}\n")),
			want: []string{"config.yaml:11: subscribers.s.auth.oauth2.token_url: must be an absolute https URL"}},
		{name: "bad scope", src: httpsSub(oauth(goodOAuth + "        scopes: [read, \"a b\"]\n")),
			want: []string{"config.yaml:14: subscribers.s.auth.oauth2.scopes[1]: a scope is a non-empty token"}},
		{name: "authorization header with oauth2", src: httpsSub("    headers: {authorization: x}\n" + oauth(goodOAuth)),
			want: []string{"config.yaml:9: subscribers.s.headers.authorization: is set by auth.oauth2"}},
		{name: "unknown key", src: httpsSub(oauth(goodOAuth + "        audience: x\n")),
			want: []string{"config.yaml:14: subscribers.s.auth.oauth2.audience: unknown key (known: token_url, client_id, client_secret, scopes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errLines(t, tt.src, env)
			checkErrLines(t, got, tt.want)
			for _, l := range got {
				if strings.Contains(l, "TOPSECRET") {
					t.Errorf("error shows a secret: %s", l)
				}
			}
		})
	}
}

func TestSubscriberTLSAndAuthAccepted(t *testing.T) {
	ca, cert, key, _, _ := subTLSFiles(t)
	src := httpsSub(fmt.Sprintf(`    tls: {cert_file: %s, key_file: %s, ca_file: %s}
    auth:
      oauth2:
        token_url: https://auth.example/oauth/token?audience=TOPSECRET-q
        client_id: hookgate
        client_secret: ${CS}
        scopes: [events.write]
`, cert, key, ca))
	cfg := mustParse(t, src, map[string]string{"CS": "TOPSECRET-client-secret"})
	sub := cfg.Subscribers["s"]
	if sub.TLS.CertFile != cert || sub.TLS.KeyFile != key || sub.TLS.CAFile != ca {
		t.Errorf("tls = %+v", sub.TLS)
	}
	o := sub.Auth.OAuth2
	if o == nil || o.ClientID != "hookgate" || o.ClientSecret.Reveal() != "TOPSECRET-client-secret" || len(o.Scopes) != 1 {
		t.Fatalf("auth.oauth2 = %+v", o)
	}
	// The token URL is a plain string, as a subscriber URL is: only
	// Redacted hides what its query may hold. The client secret never
	// prints.
	for name, out := range map[string]string{
		"Redacted": config.Redacted(cfg),
		"%+v":      fmt.Sprintf("%+v", *o),
		"%#v":      fmt.Sprintf("%#v", *o),
		"%+v cfg":  fmt.Sprintf("%+v", *sub),
	} {
		secret := "TOPSECRET-client-secret"
		if name == "Redacted" {
			secret = "TOPSECRET"
		}
		if strings.Contains(out, secret) {
			t.Errorf("%s shows a secret:\n%s", name, out)
		}
	}
	if r := config.Redacted(cfg); !strings.Contains(r, "client_id: hookgate") || !strings.Contains(r, "token_url: https://auth.example/oauth/token?audience=redacted") {
		t.Errorf("Redacted:\n%s", r)
	}
	// An http token endpoint on loopback (a sidecar, a test) is accepted,
	// and a tls block of empty strings is no tls block.
	mustParse(t, httpsSub("    tls: {cert_file: \"\", key_file: \"\", ca_file: \"\"}\n    auth:\n      oauth2: {token_url: \"http://127.0.0.1:8081/token\", client_id: a, client_secret: b}\n"), nil)
	mustParse(t, minimal+"subscribers:\n  s:\n    url: http://x.example/h\n    secret: "+whsec+"\n    tls: {}\n    auth: {}\n", nil)
	if _, err := os.Stat(ca); err != nil {
		t.Fatal(err)
	}
}
