package routes

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// dashboardHTML is the whole dashboard: a static page whose script reads
// /admin/api. It carries no data itself.
//
//go:embed dashboard.html
var dashboardHTML []byte

// dashboard serves GET /admin/. The policy keeps the page from being
// framed and its script from talking to anything but this listener.
func dashboard(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Content-Security-Policy",
		"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(dashboardHTML)
}
