package deliver

import (
	"bytes"
	"io"
	"net/url"
	"slices"
	"unicode/utf8"

	"github.com/hookgate/hookgate/gateway"
)

const (
	// minSecret is the shortest value redactedSecrets takes for a secret:
	// shorter header values ("search", "1") are labels, and redacting
	// them would blank out ordinary words of the excerpt.
	minSecret = 8
	// maxContentType bounds the recorded Content-Type.
	maxContentType = 200
	// redactedMark stands in for a secret of ours in an excerpt.
	redactedMark = "[redacted]"
)

// redactedSecrets lists what hookgate sends a subscriber that is secret and
// that a subscriber might echo in an error page: the configured header
// values (an API key, a bearer token), the URL's user name, password and
// query values, and the signing secrets and OAuth2 client secret
// themselves (never sent, but cheap to rule out; the access tokens are
// added per attempt, tokenSource.secrets). Longest first, so that a secret containing another
// is redacted whole.
func redactedSecrets(cfg *gateway.SubscriberConfig) [][]byte {
	var out [][]byte
	add := func(s string) {
		if len(s) >= minSecret {
			out = append(out, []byte(s))
		}
	}
	for _, v := range cfg.Headers {
		add(v)
	}
	for _, s := range cfg.Secrets {
		add(s.Reveal())
	}
	if o := cfg.Auth.OAuth2; o != nil {
		add(o.ClientSecret.Reveal())
	}
	if u, err := url.Parse(cfg.URL); err == nil {
		if u.User != nil {
			add(u.User.Username())
			p, _ := u.User.Password()
			add(p)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
				add(url.QueryEscape(v)) // as it went on the wire
			}
		}
	}
	slices.SortFunc(out, func(a, b []byte) int { return len(b) - len(a) })
	return slices.CompactFunc(out, bytes.Equal)
}

// readExcerpt reads the start of a failed attempt's response body: at
// most gateway.MaxResponseExcerpt bytes of text, invalid UTF-8 replaced
// by U+FFFD, each of secrets (redactedSecrets) replaced by "[redacted]",
// in the content type too.
// It reads at most that bound plus the longest secret, so that a secret
// that starts within the excerpt is seen whole; the caller drains the
// rest with its own bound.
func readExcerpt(body io.Reader, contentType string, secrets [][]byte) *gateway.AttemptResponse {
	window := gateway.MaxResponseExcerpt
	if len(secrets) > 0 {
		window += len(secrets[0])
	}
	buf, _ := io.ReadAll(io.LimitReader(body, int64(window)))
	// A read error leaves what came before it, which is still worth
	// showing; the drain that follows finds the same error.
	more := len(buf) == window
	return &gateway.AttemptResponse{
		ContentType: textExcerpt([]byte(contentType), secrets, maxContentType, false),
		Body:        textExcerpt(buf, secrets, gateway.MaxResponseExcerpt, more),
	}
}

// textExcerpt is up to max bytes of valid UTF-8 from the start of buf,
// secrets redacted, cut at a whole character. more says buf stops short of
// the body's end: a secret that may go on past buf ends the excerpt there
// rather than showing its beginning.
func textExcerpt(buf []byte, secrets [][]byte, max int, more bool) string {
	out := make([]byte, 0, min(len(buf), max))
	for i := 0; i < len(buf); {
		piece, n := nextPiece(buf[i:], secrets, more)
		if n == 0 || len(out)+len(piece) > max {
			break
		}
		out = append(out, piece...)
		i += n
	}
	return string(out)
}

// nextPiece is what the start of b becomes in an excerpt, and how many
// bytes of b it takes: a secret's mark, a character, or U+FFFD for a
// byte that is not UTF-8. n is 0 when b may be the cut-off start of a
// secret (or of a character) that goes on past b.
func nextPiece(b []byte, secrets [][]byte, more bool) (piece []byte, n int) {
	for _, s := range secrets {
		if bytes.HasPrefix(b, s) {
			return []byte(redactedMark), len(s)
		}
		if more && len(b) < len(s) && bytes.HasPrefix(s, b) {
			return nil, 0
		}
	}
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size <= 1 {
		if more && !utf8.FullRune(b) {
			return nil, 0
		}
		return []byte(string(utf8.RuneError)), 1
	}
	return b[:size], size
}
