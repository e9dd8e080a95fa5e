package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// byteBudget counts the request bodies held in memory, all requests
// together, against server.max_pending_bytes. Bytes are taken before they
// are read and given back once the request is done with them, so the
// process refuses work (503) before it runs out of memory, never after.
type byteBudget struct {
	used    atomic.Int64
	refused atomic.Int64 // requests answered 503 for want of budget
}

// take reserves n bytes if that keeps the total within limit.
func (b *byteBudget) take(n, limit int64) bool {
	for {
		u := b.used.Load()
		if u+n > limit {
			b.refused.Add(1)
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *byteBudget) give(n int64) { b.used.Add(-n) }

// Used is how many body bytes are reserved right now.
func (b *byteBudget) Used() int64 { return b.used.Load() }

// Refused is how many requests the budget has turned away.
func (b *byteBudget) Refused() int64 { return b.refused.Load() }

// firstBuf is the first buffer a body is read into; it grows fourfold as
// bytes arrive, taking budget before each growth, so a client that
// declares a large body and sends little holds little of the budget and
// of memory. Fourfold rather than double: the buffers left behind, garbage
// until the next GC, come to a third of the body instead of all of it (in
// the stalled-upload test, peak RSS 110-117MB instead of 165MB).
const firstBuf = 4 << 10

// drainLimit is how much of an oversized body is read and thrown away so
// that the client, still sending, reads the 413 instead of a connection
// reset (closing a socket with unread input makes the kernel send RST).
// Beyond it the connection is simply closed.
const drainLimit = 8 << 20

// readBody returns the raw request body in a buffer of its own, and a
// function that gives its bytes back to budget (call it once the body and
// what was made of it are no longer needed). Its errors wrap ErrTooLarge
// when the body exceeds maxBody bytes, ErrOverloaded when the budget
// (limit bytes for all requests) cannot take it.
//
// The public app streams request bodies (StreamRequestBody), so the limits
// are enforced here, against the config in force: a reload can change
// max_body or max_pending_bytes without a restart. A declared length past
// max_body is refused before anything more is read. Budget is taken as the
// buffer grows, not for the declared length: what is bounded is memory,
// and a client that declares megabytes and trickles bytes holds only what
// it sent. A request that finds the budget full is refused at once. It
// reads the raw bytes, never a decoded Content-Encoding: signatures cover
// the bytes as sent, and decoding would let a small body expand past
// max_body.
func readBody(c *fiber.Ctx, maxBody int64, budget *byteBudget, limit int64) ([]byte, func(), error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		// Not streamed (an app built without StreamRequestBody): fasthttp
		// has read and limited it already. Copy: Fiber reuses the buffer
		// once the handler returns.
		raw := c.Request().Body()
		n := int64(len(raw))
		if n > maxBody {
			return nil, nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrTooLarge)
		}
		if !budget.take(n, limit) {
			return nil, nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrOverloaded)
		}
		return bytes.Clone(raw), func() { budget.give(n) }, nil
	}
	n := int64(c.Request().Header.ContentLength()) // -1: chunked
	if n > maxBody {
		if n <= drainLimit {
			drain(c, stream)
		} else {
			// Not worth reading: the client may not even be sending it.
			c.Context().SetConnectionClose()
		}
		return nil, nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrTooLarge)
	}
	r := bodyReader{c: c, r: stream, declared: n, maxBody: maxBody, budget: budget, limit: limit}
	return r.read()
}

// bodyReader reads one streamed body into a buffer that grows as bytes
// arrive, holding budget for the buffer's capacity.
type bodyReader struct {
	c        *fiber.Ctx
	r        io.Reader
	declared int64 // Content-Length, or -1 for a chunked body
	maxBody  int64
	budget   *byteBudget
	limit    int64
	held     int64 // budget taken
}

func (b *bodyReader) read() (body []byte, release func(), err error) {
	defer func() {
		// Every way out but success gives the budget back, a panic in a
		// read included.
		if release == nil {
			b.budget.give(b.held)
		}
	}()
	for {
		if len(body) == cap(body) {
			if b.declared >= 0 && int64(len(body)) == b.declared {
				break
			}
			size := b.nextSize(int64(cap(body)))
			if !b.budget.take(size-b.held, b.limit) {
				// The rest of the body is still on the wire.
				return nil, nil, fmt.Errorf("body of %d bytes so far: %w", len(body), gateway.ErrOverloaded)
			}
			b.held = size
			body = regrow(body, size)
		}
		m, rerr := b.r.Read(body[len(body):cap(body)])
		body = body[:len(body)+m]
		if int64(len(body)) > b.maxBody {
			drain(b.c, b.r)
			return nil, nil, fmt.Errorf("chunked body over %d bytes: %w", b.maxBody, gateway.ErrTooLarge)
		}
		if rerr == io.EOF {
			if b.declared >= 0 && int64(len(body)) < b.declared {
				return nil, nil, bodyReadError(b.c, io.ErrUnexpectedEOF)
			}
			break
		}
		if rerr != nil {
			return nil, nil, bodyReadError(b.c, rerr)
		}
	}
	held := b.held
	return body, func() { b.budget.give(held) }, nil
}

// nextSize is the capacity to grow a buffer of capacity have to: four
// times as much, from firstBuf, up to the declared length, or for a chunked body up to
// one byte past max_body (which tells an oversized body from one of
// exactly max_body).
func (b *bodyReader) nextSize(have int64) int64 {
	size := max(4*have, firstBuf)
	if b.declared >= 0 {
		return min(size, b.declared)
	}
	return min(size, b.maxBody+1)
}

// regrow returns body's bytes in a buffer of capacity size.
func regrow(body []byte, size int64) []byte {
	grown := make([]byte, len(body), size)
	copy(grown, body)
	return grown
}

// drain discards up to drainLimit more bytes of the body and closes the
// connection after the response: what is left of the body cannot be
// parsed as the next request.
func drain(c *fiber.Ctx, stream io.Reader) {
	io.CopyN(io.Discard, stream, drainLimit)
	c.Context().SetConnectionClose()
}

// unroutedDrainLimit is how much of the body of a request no route took is
// read away to keep its connection; past it the connection is closed.
const unroutedDrainLimit = 64 << 10

// drainUnrouted reads away the body of a request that no route took, then
// lets Fiber answer 404 or 405. Bodies are streamed, so fasthttp would
// otherwise parse the unread rest as the next request on the connection; a
// large one is not worth reading, and closes the connection instead.
func drainUnrouted(c *fiber.Ctx) error {
	if stream := c.Context().RequestBodyStream(); stream != nil {
		n := c.Request().Header.ContentLength()
		if n > unroutedDrainLimit || n == -1 {
			c.Context().SetConnectionClose()
		} else if n > 0 {
			io.CopyN(io.Discard, stream, int64(n))
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

// closeAfterUnexpectedBody closes the connection after the answer to a
// GET or HEAD that carries a body (a length, or chunks): no route of
// these reads one, and bytes a client sent as a body must never be read
// as a request of their own on a connection a front proxy may reuse for
// another client.
func closeAfterUnexpectedBody(c *fiber.Ctx) error {
	// ContentLength: the declared length, or -1 for chunks (-2: none).
	if n := c.Request().Header.ContentLength(); (n > 0 || n == -1) &&
		(c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) {
		c.Context().SetConnectionClose()
	}
	return c.Next()
}
