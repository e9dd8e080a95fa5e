package deliver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hookgate/hookgate/gateway"
)

// tokenSource holds a subscriber's OAuth2 client-credentials token
// (auth.oauth2), cached until it expires (oauth2.Token.Valid: 10 seconds
// early) and fetched again only then, or when the subscriber answers 401
// to it. It is not oauth2.ReuseTokenSource because a fetch must run under
// the attempt's context (its timeout, and a shutdown's cancel), which
// ReuseTokenSource's Token cannot take. One fetch at a time: concurrent
// attempts that find the token expired wait for the one fetch, each within
// its own context. Safe for concurrent use.
type tokenSource struct {
	cfg    clientcredentials.Config
	host   string       // the token endpoint's host, for errors
	client *http.Client // to the token endpoint
	own    *http.Transport

	fetch chan struct{} // a 1-slot lock, held while fetching

	mu     sync.Mutex
	tok    *oauth2.Token
	recent []string // the last access tokens handed out, redacted from excerpts
}

// maxRecent is how many past access tokens are redacted from response
// excerpts: the one in use, and the one a 401 just replaced.
const maxRecent = 2

func newTokenSource(o *gateway.OAuth2Config, rt http.RoundTripper) *tokenSource {
	t := &tokenSource{
		cfg: clientcredentials.Config{
			ClientID:     o.ClientID,
			ClientSecret: o.ClientSecret.Reveal(),
			TokenURL:     o.TokenURL,
			Scopes:       o.Scopes,
		},
		fetch: make(chan struct{}, 1),
	}
	if u, err := url.Parse(o.TokenURL); err == nil {
		t.host = u.Host
	}
	if rt == nil {
		t.own = newTransport(1)
		rt = t.own
	}
	// A token endpoint that redirects is misconfigured: the client
	// secret is not sent after it.
	t.client = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return t
}

// token returns the cached token while it is valid, else fetches one
// under ctx. An error is a *tokenError.
func (t *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	if tok := t.cached(); tok != nil {
		return tok, nil
	}
	select {
	case t.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, &tokenError{host: t.host, cause: ctx.Err()}
	}
	defer func() { <-t.fetch }()
	if tok := t.cached(); tok != nil {
		return tok, nil // fetched while this one waited
	}
	tok, err := t.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, t.client))
	if err != nil {
		return nil, newTokenError(t.host, err)
	}
	t.mu.Lock()
	t.tok = tok
	t.recent = append(t.recent, tok.AccessToken)
	if len(t.recent) > maxRecent {
		t.recent = t.recent[1:]
	}
	t.mu.Unlock()
	return tok, nil
}

func (t *tokenSource) cached() *oauth2.Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok.Valid() {
		return t.tok
	}
	return nil
}

// invalidate drops tok if it is still the cached token, so the next
// token call fetches; a token another attempt has already replaced stays.
func (t *tokenSource) invalidate(tok *oauth2.Token) {
	t.mu.Lock()
	if t.tok == tok {
		t.tok = nil
	}
	t.mu.Unlock()
}

// secrets adds the recent access tokens and the client secret to those
// redacted from a response excerpt (a subscriber's 401 page may quote the
// token it refused), longest first.
func (t *tokenSource) secrets(base [][]byte) [][]byte {
	t.mu.Lock()
	out := slices.Clone(base)
	for _, s := range t.recent {
		if len(s) >= minSecret {
			out = append(out, []byte(s))
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b []byte) int { return len(b) - len(a) })
	return out
}

func (t *tokenSource) closeIdle() {
	if t.own != nil {
		t.own.CloseIdleConnections()
	}
}

// authTransport sends each request with the subscriber's bearer token. A
// 401 answer drops the token and sends the request once more with a
// fresh one, within the same attempt (one attempt recorded, one breaker
// outcome, the attempt's timeout covering both): a token revoked or
// expired early then costs no retry, while credentials the subscriber
// keeps refusing end in the second 401's verdict. A failed token fetch
// fails the request (a *tokenError; retried like a connection error).
type authTransport struct {
	base   http.RoundTripper
	tokens *tokenSource
}

// RoundTrip implements http.RoundTripper.
func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := a.tokens.token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := a.base.RoundTrip(withToken(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || req.GetBody == nil {
		return resp, err
	}
	body, err := req.GetBody()
	if err != nil {
		return resp, nil
	}
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
	a.tokens.invalidate(tok)
	if tok, err = a.tokens.token(ctx); err != nil {
		body.Close()
		return nil, err
	}
	retry := withToken(req, tok)
	retry.Body = body
	return a.base.RoundTrip(retry)
}

func withToken(req *http.Request, tok *oauth2.Token) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// tokenError is a failed token fetch. Its text names the token endpoint's
// host and what went wrong (an HTTP status and the RFC 6749 error code, or
// the connection error), never the client secret, a token, the token
// URL's path or query, or the endpoint's answer beyond its error code.
type tokenError struct {
	host   string
	status int    // the endpoint's HTTP status, 0 when none
	code   string // RFC 6749's error parameter, when safe to show
	cause  error  // the transport error, or nil
}

// errorCode is the character set RFC 6749 allows in the error parameter,
// bounded; anything else is not shown.
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

func newTokenError(host string, err error) *tokenError {
	te := &tokenError{host: host}
	var re *oauth2.RetrieveError
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		if re.Response != nil {
			te.status = re.Response.StatusCode
		}
		if errorCode.MatchString(re.ErrorCode) {
			te.code = re.ErrorCode
		}
	case errors.As(err, &ue), errors.As(err, &ne),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		te.cause = err
	}
	return te
}

func (e *tokenError) Error() string { return e.reason(0) }

// Unwrap returns the transport error, so that a shutdown's cancel is
// still seen as one.
func (e *tokenError) Unwrap() error { return e.cause }

// reason is the attempt's recorded error: "token endpoint
// auth.example.com: HTTP 401 (invalid_client)".
func (e *tokenError) reason(timeout time.Duration) string {
	s := "token endpoint " + e.host + ": "
	switch {
	case e.cause != nil && timeout == 0 && errors.Is(e.cause, context.DeadlineExceeded):
		return s + "timeout"
	case e.cause != nil:
		return s + errReason(e.cause, timeout)
	case e.status == 0:
		return s + "invalid token response"
	case e.code != "":
		return s + "HTTP " + strconv.Itoa(e.status) + " (" + e.code + ")"
	}
	return s + "HTTP " + strconv.Itoa(e.status)
}
