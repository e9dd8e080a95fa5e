package routes

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// dashboardHeader must accompany any Basic-authenticated request that
// changes state. Browsers attach cached Basic credentials to cross-site
// requests too; a custom header cannot be sent cross-site without a CORS
// preflight, which the admin listener never grants, so this stops CSRF.
const dashboardHeader = "X-Hookgate-Dashboard"

// bearer guards /admin/*: when admin.token is set, every request must carry
// "Authorization: Bearer <token>". The token is read from the config in
// force on each request, so a reload that changes it takes effect at once.
// Both sides are hashed before the constant-time compare so that neither the
// content nor the length of the token leaks through timing.
//
// For the dashboard, which a browser opens without a way to add a bearer
// header, HTTP Basic with the token as password (any user name) is accepted
// as well; the browser asks for it and resends it with the dashboard's API
// calls.
func bearer(in *gateway.Ingester) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token := in.Config().Admin.Token.Reveal()
		if token == "" {
			return c.Next()
		}
		got, basic, ok := credentials(c.Get(fiber.HeaderAuthorization))
		want := sha256.Sum256([]byte(token))
		have := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
			if strings.HasPrefix(c.Path(), "/admin/api") {
				c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="hookgate"`)
			} else {
				c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="hookgate admin", charset="UTF-8"`)
			}
			return sendError(c, fiber.StatusUnauthorized, "missing or invalid admin token")
		}
		if basic && !isSafeMethod(c.Method()) && c.Get(dashboardHeader) == "" {
			return sendError(c, fiber.StatusForbidden, "Basic-authenticated changes need the "+dashboardHeader+" header")
		}
		return c.Next()
	}
}

func isSafeMethod(m string) bool { return m == fiber.MethodGet || m == fiber.MethodHead }

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
