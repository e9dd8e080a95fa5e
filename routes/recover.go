package routes

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// errPanic is what a recovered panic becomes: unexpected, so statusOf
// answers 503 and the provider retries rather than the process dying in a
// crash loop on a payload it keeps resending.
var errPanic = fmt.Errorf("internal error")

// recovery turns a panic in any handler into a 503. It logs the method, the
// route and the stack, never the body or headers, which may carry secrets.
func recovery(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				gateway.CountPanic("http")
				log.Error("handler panicked", "method", c.Method(), "route", c.Route().Path,
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = errPanic
			}
		}()
		return c.Next()
	}
}
