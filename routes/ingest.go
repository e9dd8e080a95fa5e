package routes

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// ingestHandler serves /webhooks/{source}. It is the hot path: per request
// it copies the body once, builds no maps and uses no reflection; the rest
// of the work is the provider's decoding and the store's write.
type ingestHandler struct {
	in  *gateway.Ingester
	now func() time.Time
}

// post answers 200 once every event of the request is durably stored, and
// an error (mapped in errors.go) otherwise.
func (h *ingestHandler) post(c *fiber.Ctx) error {
	// The raw body, not c.Body(): signatures cover the bytes as sent, and
	// decoding a Content-Encoding here would let a small compressed body
	// expand past max_body.
	raw := c.Request().Body()
	if max := h.in.Config().Server.MaxBody; max > 0 && int64(len(raw)) > int64(max) {
		// A reload lowered max_body below the listener's limit.
		return gateway.ErrTooLarge
	}
	req := gateway.Request{
		Header: ctxHeader{c},
		// Fiber reuses the request buffer once the handler returns.
		Body:       bytes.Clone(raw),
		ReceivedAt: h.now(),
	}
	res, err := h.in.Ingest(c.UserContext(), c.Params("source"), req)
	if err != nil {
		return err
	}
	var buf [96]byte
	b := append(buf[:0], `{"stored":`...)
	b = strconv.AppendInt(b, int64(res.Stored), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(res.Duplicates), 10)
	if res.Test {
		b = append(b, `,"test":true`...)
	}
	b = append(b, '}')
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	// SetBody copies b, so buf can stay on the stack.
	c.Response().SetBody(b)
	return nil
}

// head answers 200 for a configured source, so that an upstream can check
// the URL before sending to it (catalog360 does).
func (h *ingestHandler) head(c *fiber.Ctx) error {
	if !h.in.HasSource(c.Params("source")) {
		return c.SendStatus(fiber.StatusNotFound)
	}
	return c.SendStatus(fiber.StatusOK)
}

// ctxHeader gives a provider the request's headers. Values are copied:
// fasthttp's are views into a buffer reused after the handler returns, and a
// provider may keep a header value in an error.
type ctxHeader struct{ c *fiber.Ctx }

// Get returns the named header (any case), "" when absent.
func (h ctxHeader) Get(name string) string {
	v := h.c.Get(name)
	if v == "" {
		return ""
	}
	return strings.Clone(v)
}
