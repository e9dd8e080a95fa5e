package routes

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// dashboardHeader must accompany any Basic-authenticated request that
// changes state. Browsers attach cached Basic credentials to cross-site
// requests too; a custom header cannot be sent cross-site without a CORS
// preflight, which the admin listener never grants, so this stops CSRF.
const dashboardHeader = "X-Hookgate-Dashboard"

// bearer guards /admin/* (and tokenGate GET /metrics): when admin.token is set, every request must carry
// "Authorization: Bearer <token>". The token is read from the config in
// force on each request, so a reload that changes it takes effect at once.
// Both sides are hashed before the constant-time compare so that neither the
// content nor the length of the token leaks through timing.
//
// For the dashboard, which a browser opens without a way to add a bearer
// header, HTTP Basic with the token as password (any user name) is accepted
// as well; the browser asks for it and resends it with the dashboard's API
// calls. Unauthenticated, the dashboard page itself comes with the 401
// (see isDashboard), so that an operator who cancels the browser's prompt
// can give the token to the page instead.
func bearer(in *gateway.Ingester) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if pass, err := tokenGate(in, c); !pass {
			return err
		}
		return c.Next()
	}
}

// tokenGate is bearer's check, for a handler to run first (GET /metrics,
// whose families, source and subscriber names, traffic and version are
// the admin's business as much as the API's). It reports whether the
// request may go on; when not, it has answered it (401, or 403 for a
// Basic change without dashboardHeader) and err is what the handler
// returns.
func tokenGate(in *gateway.Ingester, c *fiber.Ctx) (pass bool, err error) {
	token := in.Config().Admin.Token.Reveal()
	if token == "" {
		return true, nil
	}
	got, basic, ok := credentials(c.Get(fiber.HeaderAuthorization))
	want := sha256.Sum256([]byte(token))
	have := sha256.Sum256([]byte(got))
	if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		if strings.HasPrefix(c.Path(), "/admin/api") {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="hookgate"`)
		} else {
			// The dashboard, and /metrics opened in a browser: it asks
			// for the token as a password.
			c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="hookgate admin", charset="UTF-8"`)
			if isDashboard(c) {
				return false, sendDashboard(c, fiber.StatusUnauthorized)
			}
		}
		return false, sendError(c, fiber.StatusUnauthorized, "missing or invalid admin token")
	}
	if basic && !isSafeMethod(c.Method()) && c.Get(dashboardHeader) == "" {
		return false, sendError(c, fiber.StatusForbidden, "Basic-authenticated changes need the "+dashboardHeader+" header")
	}
	return true, nil
}

func isSafeMethod(m string) bool { return m == fiber.MethodGet || m == fiber.MethodHead }

// loopbackGuard is the admin listener's first gate when admin.token is
// unset. The listener is then on loopback (config validation insists), so
// the threat is not the network but a browser on this machine that a web
// page steers at it:
//
//   - DNS rebinding: a page on evil.example re-resolves its own name to
//     127.0.0.1 and, being "same-origin" to itself, reads and drives the
//     admin API. Its requests carry Host: evil.example, so every request
//     whose Host is not a loopback name (localhost, 127.0.0.0/8, [::1],
//     with or without a port) is refused with 403, /metrics included.
//   - Cross-site requests: any page may POST a form to
//     http://127.0.0.1:9090/...; browsers cannot read the answer, but the
//     change would be made. So a state-changing request (any method but
//     GET and HEAD) that carries an Origin must carry the listener's own:
//     the scheme of this connection and exactly the Host the request was
//     addressed to. Requests without an Origin (curl, scripts) pass.
//
// Why the exact origin and not "any loopback origin with the same port":
// 127.0.0.1:9090, [::1]:9090 and localhost:9090 need not be one server.
// The admin may bind 127.0.0.1 alone while another local program binds
// [::1] on the same port (and localhost may resolve to either), and that
// program's pages must not drive this admin. The exact origin is what
// browsers mean by same-origin, and it is what the dashboard's own
// fetches carry, whichever loopback name it was opened under. "null"
// (sandboxed frames, file: pages) is never the listener's origin.
//
// The Host is read from the request line or Host header, never from
// X-Forwarded-Host, which a rebinding page may set freely.
func loopbackGuard(in *gateway.Ingester) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if in.Config().Admin.Token.Reveal() != "" {
			return c.Next() // bearer guards /admin/*
		}
		host := string(c.Request().URI().Host())
		if !loopbackHost(host) {
			return sendError(c, fiber.StatusForbidden,
				"without admin.token the admin answers only requests addressed to a loopback name")
		}
		if !isSafeMethod(c.Method()) {
			scheme := "http"
			if c.Context().IsTLS() {
				scheme = "https"
			}
			if origin := c.Get(fiber.HeaderOrigin); origin != "" && !sameOrigin(origin, scheme, host) {
				return sendError(c, fiber.StatusForbidden, "cross-origin change refused")
			}
		}
		return c.Next()
	}
}

// loopbackHost reports whether a Host value (with or without a port) is
// a loopback name: localhost, an address in 127.0.0.0/8, or ::1.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether origin is scheme://host, comparing hosts
// case-insensitively and taking the scheme's default port as written or
// not.
func sameOrigin(origin, scheme, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != scheme || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return strings.EqualFold(withoutDefaultPort(u.Host, scheme), withoutDefaultPort(host, scheme))
}

func withoutDefaultPort(host, scheme string) string {
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// credentials extracts the token of an "Authorization: Bearer <token>"
// header, or the password of a Basic one; schemes are case-insensitive
// (RFC 7235).
func credentials(h string) (token string, basic, ok bool) {
	scheme, rest, found := strings.Cut(h, " ")
	if !found {
		return "", false, false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "bearer"):
		return rest, false, rest != ""
	case strings.EqualFold(scheme, "basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", true, false
		}
		_, pass, found := strings.Cut(string(raw), ":")
		return pass, true, found && pass != ""
	default:
		return "", false, false
	}
}
