package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/hookgate/hookgate/gateway"
)

// subscriberTLS checks a subscriber's tls block: only for an https URL,
// cert_file and key_file together and a matching pair, ca_file a PEM file
// with at least one certificate. The files are read here, so that check,
// serve and every reload refuse a pair that would fail every handshake;
// errors name the file, never its content.
func (v *validator) subscriberTLS(key string, sub *gateway.SubscriberConfig) {
	t := sub.TLS
	if !t.Set() {
		return
	}
	if u, err := url.Parse(sub.URL); err == nil && u.Scheme != "https" && sub.URL != "" {
		v.add(key, "needs an https url: a client certificate and a CA apply to TLS connections only")
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		v.add(key, "cert_file and key_file must be set together (both: a client certificate, neither: none)")
	case t.CertFile != "":
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			v.add(key+".cert_file", "does not load with key_file: %v", err)
		}
	}
	if t.CAFile != "" {
		if _, err := loadCAFile(t.CAFile); err != nil {
			v.add(key+".ca_file", "%v", err)
		}
	}
}

// loadCAFile reads a PEM file of CA certificates into a pool; a file
// without one is an error.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &caError{path}
	}
	return pool, nil
}

type caError struct{ path string }

func (e *caError) Error() string { return e.path + ": no PEM certificate in it" }

// subscriberAuth checks auth.oauth2: token_url https (or http to a
// loopback host, a sidecar or a test), client_id, and a client_secret that
// is not empty (fail closed: a secret that an unset variable left empty
// must not send unauthenticated requests). The URL and the secret are
// never quoted.
func (v *validator) subscriberAuth(key string, sub *gateway.SubscriberConfig) {
	o := sub.Auth.OAuth2
	if o == nil {
		return
	}
	key += ".oauth2"
	if o.TokenURL == "" {
		v.add(key+".token_url", "required (the token endpoint, https)%s", v.emptyHint(key+".token_url"))
	} else if u, err := url.Parse(o.TokenURL); err != nil || u.Host == "" || u.User != nil ||
		!(u.Scheme == "https" || u.Scheme == "http" && loopbackHost(u.Hostname())) {
		v.add(key+".token_url", "must be an absolute https URL without user info (http only to a loopback host)")
	}
	if o.ClientID == "" {
		v.add(key+".client_id", "required%s", v.emptyHint(key+".client_id"))
	}
	if o.ClientSecret == "" {
		v.add(key+".client_secret", "required: an empty secret would authenticate nothing%s", v.emptyHint(key+".client_secret"))
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r == 0x7f }) {
			v.add(fmt.Sprintf("%s.scopes[%d]", key, i), "a scope is a non-empty token without spaces, quotes or backslashes")
		}
	}
	for name := range sub.Headers {
		if strings.EqualFold(name, "Authorization") {
			v.add("subscribers."+sub.Name+".headers."+name, "is set by auth.oauth2 and cannot be configured with it")
		}
	}
}

// loopbackHost reports whether host (a name or an IP, no port) only
// reaches this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
