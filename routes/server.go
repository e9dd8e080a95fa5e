package routes

import (
	"context"
	"net"

	"github.com/gofiber/fiber/v2"
)

// Server is one listener's app as the binary runs it, so that nothing
// outside routes/ needs to know it is Fiber.
type Server struct {
	app *fiber.App
	// conns limits the connections per client (the public listener's);
	// nil: no limit.
	conns *connLimiter
}

// NewServers returns the public and admin listeners' servers (see New).
func NewServers(d Deps) (public, admin Server) {
	d.defaults()
	d.setup()
	return Server{newPublic(d), d.conns}, Server{app: newAdmin(d)}
}

// Limit returns ln with the server's per-client connection limit
// (server.max_conns_per_client, as in force at each accept) applied: a
// connection past its client's share is answered 503 and closed as it is
// accepted. Wrap the plain TCP listener, under any TLS, so that a refusal
// costs no handshake. The admin server has no such limit and returns ln.
func (s Server) Limit(ln net.Listener) net.Listener {
	if s.conns == nil {
		return ln
	}
	return limitListener{Listener: ln, l: s.conns}
}

// Serve answers requests on ln until Shutdown; it returns nil after a
// Shutdown and the listener's error otherwise.
func (s Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// then closes the remaining connections.
func (s Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }
