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

// firstBuf is the first buffer a body is read into; it doubles as bytes
// arrive, so a client that declares a large body and sends little costs
// little memory (though its declared length is reserved in the budget).
const firstBuf = 16 << 10

// drainLimit is how much of an oversized body is read and thrown away so
// that the client, still sending, reads the 413 instead of a connection
// reset (closing a socket with unread input makes the kernel send RST).
// Beyond it the connection is simply closed.
const drainLimit = 8 << 20

// readBody returns the raw request body in a buffer of its own, and a
// function that gives its bytes back to budget (call it once the body and
// what was made of it are no longer needed). Its errors wrap ErrTooLarge
// when the body exceeds maxBody bytes, ErrOverloaded when the budget (limit
// bytes for all requests) cannot take it.
//
// The public app streams request bodies (StreamRequestBody), so the limits
// are enforced here, against the config in force: a reload can change
// max_body or max_pending_bytes without a restart. A declared length is
// checked and reserved before anything more is read, so an over-budget
// request is refused at once; a chunked body reserves as it grows. It reads
// the raw bytes, never a decoded Content-Encoding: signatures cover the
// bytes as sent, and decoding would let a small body expand past max_body.
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
	if n := int64(c.Request().Header.ContentLength()); n >= 0 {
		if n > maxBody {
			if n <= drainLimit {
				drain(c, stream)
			} else {
				// Not worth reading: the client may not even be sending it.
				c.Context().SetConnectionClose()
			}
			return nil, nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrTooLarge)
		}
		if !budget.take(n, limit) {
			return nil, nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrOverloaded)
		}
		body, err := readKnown(stream, n)
		if err != nil {
			budget.give(n)
			return nil, nil, bodyReadError(c, err)
		}
		return body, func() { budget.give(n) }, nil
	}
	return readChunked(c, stream, maxBody, budget, limit)
}

// readKnown reads exactly n bytes, doubling its buffer from firstBuf as
// they arrive.
func readKnown(r io.Reader, n int64) ([]byte, error) {
	body := make([]byte, 0, min(n, firstBuf))
	for int64(len(body)) < n {
		if len(body) == cap(body) {
			body = regrow(body, min(2*int64(cap(body)), n))
		}
		m, err := r.Read(body[len(body):cap(body)])
		body = body[:len(body)+m]
		if err != nil {
			if err == io.EOF && int64(len(body)) == n {
				break
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return body, nil
}

// readChunked reads a body of unknown length (chunked encoding), taking
// budget for each growth of its buffer before making it.
func readChunked(c *fiber.Ctx, r io.Reader, maxBody int64, budget *byteBudget, limit int64) ([]byte, func(), error) {
	var held int64
	give := func() { budget.give(held) }
	var body []byte
	for {
		if len(body) == cap(body) {
			// One byte past max tells an oversized body from one of max.
			size := min(max(2*int64(cap(body)), firstBuf), maxBody+1)
			if !budget.take(size-held, limit) {
				give()
				return nil, nil, fmt.Errorf("chunked body past %d bytes: %w", len(body), gateway.ErrOverloaded)
			}
			held = size
			body = regrow(body, size)
		}
		m, err := r.Read(body[len(body):cap(body)])
		body = body[:len(body)+m]
		if int64(len(body)) > maxBody {
			give()
			drain(c, r)
			return nil, nil, fmt.Errorf("chunked body over %d bytes: %w", maxBody, gateway.ErrTooLarge)
		}
		if err == io.EOF {
			return body, give, nil
		}
		if err != nil {
			give()
			return nil, nil, bodyReadError(c, err)
		}
	}
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
