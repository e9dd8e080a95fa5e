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

// dashboard serves GET /admin/.
func dashboard(c *fiber.Ctx) error { return sendDashboard(c, fiber.StatusOK) }

// sendDashboard answers with the page. The policy keeps the page from
// being framed and its script from talking to anything but this listener.
func sendDashboard(c *fiber.Ctx, status int) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Content-Security-Policy",
		"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(dashboardHTML)
}

// isDashboard reports whether a request asks for the dashboard page.
// Unauthenticated, it is answered 401 with a Basic challenge and the
// page as body: the browser asks for Basic credentials first, and if the
// operator cancels, it shows the page, which asks for the token and sends
// it as a bearer. The page holds no data, so nothing leaks.
func isDashboard(c *fiber.Ctx) bool {
	p := c.Path()
	return (p == "/admin" || p == "/admin/") && isSafeMethod(c.Method())
}
