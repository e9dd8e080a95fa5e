package gateway

import (
	"net/url"
	"slices"
	"strings"
)

// redactedPart stands in for every secret-bearing part of a URL shown to
// an operator.
const redactedPart = "redacted"

// RedactURL shows a subscriber URL (admin API, `hookgate check`) without what may be a secret: the
// userinfo as a whole (a password, or an API key used as the user name)
// becomes "redacted", every query value becomes "redacted" (the keys
// stay, so an operator still sees which parameters are set; a key
// without a value, which may itself be a token, is redacted too), a
// fragment is dropped, and a path segment that looks like a token
// (secretSegment: Slack's and Discord's webhook URLs carry theirs in the
// path) becomes "redacted". Scheme, host, port and the rest of the path
// are shown as configured. A URL that does not parse is not shown at all.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if segs := strings.Split(u.EscapedPath(), "/"); slices.ContainsFunc(segs, secretSegment) {
		for i, s := range segs {
			if secretSegment(s) {
				segs[i] = redactedPart
			}
		}
		p, err := url.PathUnescape(strings.Join(segs, "/"))
		if err != nil {
			return ""
		}
		u.Path, u.RawPath = p, ""
	}
	if u.User != nil {
		u.User = url.User(redactedPart)
	}
	if u.RawQuery != "" || u.ForceQuery {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			if k, _, ok := strings.Cut(p, "="); ok {
				parts[i] = k + "=" + redactedPart
			} else if p != "" {
				parts[i] = redactedPart
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// secretSegment reports whether a path segment may be a token: 16
// characters or more with a digit in them, or with no word separator
// (- _ . ~), as random tokens are and words joined by dashes are not.
func secretSegment(s string) bool {
	if len(s) < 16 {
		return false
	}
	return strings.ContainsAny(s, "0123456789") || !strings.ContainsAny(s, "-_.~")
}
