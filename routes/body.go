package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
)

// Body chunks: a body is read into chunks that grow from firstChunk to
// maxChunk, each taking budget just before it is read into, so that what
// a request holds is what it sent plus at most one chunk: a client that
// declares 5MB and sends 1MB holds 1MB and 64KB, not the 4MB a buffer
// growing fourfold would have held (issue 19 item 1). The chunks of a
// body longer than one are copied into one buffer at the end, as
// providers verify and decode contiguous bytes.
const (
	firstChunk = 4 << 10
	maxChunk   = 64 << 10
)

// rateWindow is the window server.min_upload_rate is measured over: in
// each, a body must bring min_upload_rate x rateWindow more bytes, or the
// rest of it. Long enough for a retransmission or two on a poor link,
// short enough that a stalled upload gives its budget back within seconds
// rather than at the 30s read timeout.
const rateWindow = 5 * time.Second

// errSlowUpload answers a body that arrived slower than
// server.min_upload_rate.
var errSlowUpload = fiber.NewError(fiber.StatusRequestTimeout, "request body arrived slower than the minimum upload rate")

// drainLimit is how much of an oversized body is read and thrown away so
// that the client, still sending, reads the 413 instead of a connection
// reset (closing a socket with unread input makes the kernel send RST).
// Beyond it the connection is simply closed.
const drainLimit = 8 << 20

// readBody returns the raw request body in a buffer of its own, the bytes
// it holds taken from cl (which the caller releases once the body and
// what was made of it are no longer needed). Its errors wrap ErrTooLarge
// when the body exceeds maxBody bytes, ErrOverloaded when the budget
// cannot take it; a body slower than minRate bytes a second (0: no floor)
// is errSlowUpload.
//
// The public app streams request bodies (StreamRequestBody), so the limits
// are enforced here, against the config in force: a reload can change
// them without a restart. A declared length past maxBody is refused before
// anything more is read. Budget is taken as bytes arrive, not for the
// declared length: what is bounded is memory, and a client that declares
// megabytes and trickles bytes holds only what it sent. A request that
// finds the budget full is refused at once. It reads the raw bytes, never
// a decoded Content-Encoding: signatures cover the bytes as sent, and
// decoding would let a small body expand past max_body.
func readBody(c *fiber.Ctx, maxBody int64, cl *claim, minRate int64) ([]byte, error) {
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
			return nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrTooLarge)
		}
		if err := cl.takeBody(n); err != nil {
			return nil, fmt.Errorf("body of %d bytes: %w", n, err)
		}
		return bytes.Clone(raw), nil
	}
	n := int64(c.Request().Header.ContentLength()) // -1: chunked
	if n > maxBody {
		if n <= drainLimit {
			drain(c, stream)
		} else {
			// Not worth reading: the client may not even be sending it.
			c.Context().SetConnectionClose()
		}
		return nil, fmt.Errorf("body of %d bytes: %w", n, gateway.ErrTooLarge)
	}
	r := bodyReader{c: c, r: stream, declared: n, maxBody: maxBody, claim: cl, minRate: minRate}
	return r.read()
}

// bodyReader reads one streamed body into chunks taken from the budget as
// they are needed, holding the upload to the minimum rate.
type bodyReader struct {
	c        *fiber.Ctx
	r        io.Reader
	declared int64 // Content-Length, or -1 for a chunked body
	maxBody  int64
	claim    *claim
	minRate  int64 // bytes a second; 0: no floor

	got    int64    // bytes read so far
	chunks [][]byte // full chunks, in order
	// The rate floor: by deadline, windowGot must reach windowNeed.
	deadline   time.Time
	windowGot  int64
	windowNeed int64
	last       time.Time // the read deadline set on the connection
}

func (b *bodyReader) read() ([]byte, error) {
	var cur []byte
	b.startWindow(time.Now())
	for {
		if len(cur) == cap(cur) {
			if cur != nil {
				b.chunks = append(b.chunks, cur)
			}
			if b.declared >= 0 && b.got == b.declared {
				break
			}
			size := b.nextChunk()
			if err := b.claim.takeBody(size); err != nil {
				// The rest of the body is still on the wire.
				return nil, fmt.Errorf("body of %d bytes so far: %w", b.got, err)
			}
			cur = make([]byte, 0, size)
		}
		b.armDeadline()
		m, rerr := b.r.Read(cur[len(cur):cap(cur)])
		cur = cur[:len(cur)+m]
		b.got += int64(m)
		if b.got > b.maxBody {
			drain(b.c, b.r)
			return nil, fmt.Errorf("chunked body over %d bytes: %w", b.maxBody, gateway.ErrTooLarge)
		}
		if m > 0 {
			b.progress(int64(m))
		}
		if rerr == io.EOF {
			if b.declared >= 0 && b.got < b.declared {
				return nil, bodyReadError(b.c, io.ErrUnexpectedEOF)
			}
			if len(cur) > 0 {
				b.chunks = append(b.chunks, cur)
			}
			break
		}
		if rerr != nil {
			if b.slow(rerr) {
				b.claim.b.slow.Add(1)
				b.c.Context().SetConnectionClose()
				return nil, errSlowUpload
			}
			return nil, bodyReadError(b.c, rerr)
		}
	}
	// The deadline set last stays until fasthttp sets the next request's.
	return b.joined(), nil
}

// nextChunk is the size of the next chunk: as large as what was read so
// far, from firstChunk up to maxChunk, and no more than the declared
// length left or, for a chunked body, one byte past max_body (which tells
// an oversized body from one of exactly max_body).
func (b *bodyReader) nextChunk() int64 {
	size := min(max(b.got, firstChunk), maxChunk)
	if b.declared >= 0 {
		return min(size, b.declared-b.got)
	}
	return min(size, b.maxBody+1-b.got)
}

// joined returns the body in one buffer of its exact length.
func (b *bodyReader) joined() []byte {
	switch len(b.chunks) {
	case 0:
		return []byte{}
	case 1:
		return b.chunks[0]
	}
	body := make([]byte, 0, b.got)
	for _, ch := range b.chunks {
		body = append(body, ch...)
	}
	return body
}

// startWindow opens a window of the rate floor at now: by now+rateWindow
// the body must bring minRate x rateWindow more bytes, or all it has left.
func (b *bodyReader) startWindow(now time.Time) {
	if b.minRate <= 0 {
		return
	}
	b.windowGot = 0
	b.windowNeed = b.minRate * int64(rateWindow/time.Second)
	if b.declared >= 0 {
		b.windowNeed = min(b.windowNeed, b.declared-b.got)
	}
	b.deadline = now.Add(rateWindow)
}

// progress counts n bytes read towards the window, opening the next once
// it has what it needs.
func (b *bodyReader) progress(n int64) {
	if b.minRate <= 0 {
		return
	}
	if b.windowGot += n; b.windowGot >= b.windowNeed {
		b.startWindow(time.Now())
	}
}

// armDeadline sets the connection's read deadline to the window's end,
// never past the request's own read timeout.
func (b *bodyReader) armDeadline() {
	if b.minRate <= 0 {
		return
	}
	d := b.deadline
	if rd := b.requestDeadline(); rd.Before(d) {
		d = rd
	}
	if !d.Equal(b.last) {
		b.c.Context().SetReadDeadline(d)
		b.last = d
	}
}

// requestDeadline is when the request's read timeout ends: readTimeout
// from its start, as fasthttp set it.
func (b *bodyReader) requestDeadline() time.Time { return b.c.Context().Time().Add(readTimeout) }

// slow reports whether err is the rate floor's deadline passing, rather
// than the request's read timeout or another failure.
func (b *bodyReader) slow(err error) bool {
	var ne net.Error
	return b.minRate > 0 && errors.As(err, &ne) && ne.Timeout() && b.deadline.Before(b.requestDeadline())
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
