package routes

import (
	"context"
	"net"

	"github.com/gofiber/fiber/v2"
)

// Server is one listener's app as the binary runs it, so that nothing
// outside routes/ needs to know it is Fiber.
type Server struct{ app *fiber.App }

// NewServers returns the public and admin listeners' servers (see New).
func NewServers(d Deps) (public, admin Server) {
	p, a := New(d)
	return Server{p}, Server{a}
}

// Serve answers requests on ln until Shutdown; it returns nil after a
// Shutdown and the listener's error otherwise.
func (s Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// then closes the remaining connections.
func (s Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }
