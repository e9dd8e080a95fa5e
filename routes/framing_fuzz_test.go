package routes_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// marker is the request sent after the fuzzed one on the same connection:
// its answer (200 from /healthz) tells where the gateway thought the first
// request ended.
const marker = "GET /healthz HTTP/1.1\r\nHost: marker\r\n\r\n"

// FuzzRequestFraming holds the public listener's framing to Go's HTTP/1.1
// parser, standing in for a front proxy that reuses connections. Where Go
// reads the input as exactly one request, the gateway, sent that request
// and then marker on one connection, must answer the request and then
// marker (200), or answer the request and close, or close: never find a
// request of its own inside the first one's bytes (a third answer, or a
// second that is not marker's), and never wait for bytes Go took to be
// the next request's (no answer, the connection open). Where Go refuses
// the input, the gateway may answer it any way, in well-formed responses.
// A panic anywhere in the listener fails the fuzz run by itself.
func FuzzRequestFraming(f *testing.F) {
	for _, seed := range []string{
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
		"POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
		"POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nGET ",
		"HEAD /webhooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
		"POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		"POST /webhooks/shop HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}",
	} {
		f.Add([]byte(seed))
	}
	public, _ := sourceApps(f, "", nil, 0)
	addr := strings.TrimPrefix(listen(f, public), "http://")
	f.Fuzz(func(t *testing.T, raw []byte) {
		one := goReadsOne(raw)
		if !one {
			// Nothing to hold it to: answered any way, well-formed.
			if _, _, err := exchangeRaw(addr, raw, 200*time.Millisecond); err != nil {
				t.Fatalf("input Go refuses: %v", err)
			}
			return
		}
		codes, closed, err := exchangeRaw(addr, append(bytes.Clone(raw), marker...), 2*time.Second)
		if err != nil {
			t.Fatalf("request Go reads as one: %v", err)
		}
		switch {
		case len(codes) > 2:
			t.Fatalf("answers %v to one request and marker: the gateway found a request inside the first one's bytes", codes)
		case len(codes) == 2 && codes[1] != http.StatusOK:
			t.Fatalf("answers %v: the second is not marker's 200, so the first request ended elsewhere for the gateway than for Go", codes)
		case len(codes) < 2 && !closed:
			t.Fatalf("answers %v and the connection open: the gateway waits for bytes Go took as the next request's", codes)
		}
	})
}

// goReadsOne reports whether Go's server-side parser reads raw as exactly
// one HTTP/1.1 request, its body included, with no byte left over.
func goReadsOne(raw []byte) bool {
	br := bufio.NewReader(bytes.NewReader(raw))
	req, err := http.ReadRequest(br)
	if err != nil || req.ProtoMajor != 1 || req.ProtoMinor != 1 {
		return false
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
	return br.Buffered() == 0
}

// exchangeRaw writes raw on a new connection to addr and reads responses
// until the gateway closes it or is quiet for quiet. It returns their
// statuses, whether it closed, and an error for bytes that are not a
// well-formed response.
func exchangeRaw(addr string, raw []byte, quiet time.Duration) (codes []int, closed bool, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	conn.Write(raw) // a refusal may close it before all is written
	br := bufio.NewReader(conn)
	for {
		if len(codes) == 2 {
			// Both answers in: a third would follow at once.
			quiet = min(quiet, 200*time.Millisecond)
		}
		conn.SetReadDeadline(time.Now().Add(quiet))
		resp, err := http.ReadResponse(br, nil)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return codes, false, nil
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err):
			// Closed; a close with our input unread resets the
			// connection, which can cut its last answer short.
			return codes, true, nil
		case err != nil:
			return codes, false, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
}

// isReset reports a connection reset by the gateway (it closed with input
// unread).
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
