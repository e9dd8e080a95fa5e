package routes

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// bearer guards /admin/*: when admin.token is set, every request must carry
// "Authorization: Bearer <token>". The token is read from the config in
// force on each request, so a reload that changes it takes effect at once.
// Both sides are hashed before the constant-time compare so that neither the
// content nor the length of the token leaks through timing.
func bearer(in *gateway.Ingester) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token := in.Config().Admin.Token.Reveal()
		if token == "" {
			return c.Next()
		}
		got, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
		want := sha256.Sum256([]byte(token))
		have := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="hookgate"`)
			return sendError(c, fiber.StatusUnauthorized, "missing or invalid bearer token")
		}
		return c.Next()
	}
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 6750 via RFC 7235).
func bearerToken(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}
