package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// ingestHandler serves /webhooks/{source}. It is the hot path: per request
// it copies the body once, builds no maps and uses no reflection; the rest
// of the work is the provider's decoding and the store's write.
type ingestHandler struct {
	in       *gateway.Ingester
	now      func() time.Time
	requests *requestCounts
}

// post answers 200 once every event of the request is durably stored, and
// an error (mapped in errors.go) otherwise.
func (h *ingestHandler) post(c *fiber.Ctx) error {
	err := h.ingest(c)
	if err != nil {
		h.requests.add(statusOf(err))
	} else {
		h.requests.add(fiber.StatusOK)
	}
	return err
}

func (h *ingestHandler) ingest(c *fiber.Ctx) error {
	body, err := readBody(c, int64(h.in.Config().Server.MaxBody))
	if err != nil {
		return err
	}
	req := gateway.Request{
		Header:     ctxHeader{c},
		Body:       body,
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

// ctxHeader gives a provider the request's headers without copying them:
// the values are views into fasthttp's buffer, valid until the handler
// returns, which gateway.Header allows ("valid for the duration of the
// Provider call"). Providers only compare them, so a copy per request
// would be waste on the hot path.
type ctxHeader struct{ c *fiber.Ctx }

// Get returns the named header (any case), "" when absent.
func (h ctxHeader) Get(name string) string { return h.c.Get(name) }

// drainLimit is how much of an oversized body is read and thrown away so
// that the client, still sending, reads the 413 instead of a connection
// reset (closing a socket with unread input makes the kernel send RST).
// Beyond it the connection is simply closed.
const drainLimit = 8 << 20

// readBody returns the raw request body in a buffer of its own, or an error
// wrapping ErrTooLarge when it exceeds max bytes.
//
// The public app streams request bodies (StreamRequestBody), so the limit
// is enforced here, against the config in force: a reload can raise or
// lower max_body without a restart, and an oversized body is drained before
// the 413 rather than cut off. It reads the raw bytes, never a decoded
// Content-Encoding: signatures cover the bytes as sent, and decoding would
// let a small compressed body expand past max_body.
func readBody(c *fiber.Ctx, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		// Not streamed (an app built without StreamRequestBody): fasthttp
		// has read and limited it already. Copy: Fiber reuses the buffer
		// once the handler returns.
		raw := c.Request().Body()
		if int64(len(raw)) > max {
			return nil, fmt.Errorf("body of %d bytes: %w", len(raw), gateway.ErrTooLarge)
		}
		return bytes.Clone(raw), nil
	}
	n := c.Request().Header.ContentLength()
	if n >= 0 {
		if int64(n) > max {
			drain(c, stream)
			return nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrTooLarge)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(stream, body); err != nil {
			return nil, bodyReadError(c, err)
		}
		return body, nil
	}
	// Chunked: the length is known only at the end.
	body, err := io.ReadAll(io.LimitReader(stream, max+1))
	if err != nil {
		return nil, bodyReadError(c, err)
	}
	if int64(len(body)) > max {
		drain(c, stream)
		return nil, fmt.Errorf("chunked body over %d bytes: %w", max, gateway.ErrTooLarge)
	}
	return body, nil
}

// drain discards up to drainLimit more bytes of the body and closes the
// connection after the response: what is left of the body cannot be
// parsed as the next request.
func drain(c *fiber.Ctx, stream io.Reader) {
	io.CopyN(io.Discard, stream, drainLimit)
	c.Context().SetConnectionClose()
}

// drainUnrouted reads away the body of a request that no route took, then
// lets Fiber answer 404 or 405. Bodies are streamed, so fasthttp would
// otherwise parse the unread rest as the next request on the connection.
func drainUnrouted(c *fiber.Ctx) error {
	if stream := c.Context().RequestBodyStream(); stream != nil {
		if n, _ := io.CopyN(io.Discard, stream, drainLimit); n == drainLimit {
			c.Context().SetConnectionClose()
		}
	}
	return c.Next()
}

func bodyReadError(c *fiber.Ctx, err error) error {
	// Where the body ends is unknown now: the connection cannot be reused.
	c.Context().SetConnectionClose()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fiber.NewError(fiber.StatusBadRequest, "request body shorter than its Content-Length")
	}
	return fiber.NewError(fiber.StatusBadRequest, "read request body: "+err.Error())
}
