package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// exchange writes raw on one connection, exactly as given, and returns
// the status of every response the gateway sends on it before closing it
// (or going quiet for a second), and whether it closed it.
func exchange(t *testing.T, addr, raw string) (codes []int, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(conn)
	for {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return codes, !(errors.As(err, &ne) && ne.Timeout())
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
}

// TestHostileRequestFraming: a request whose framing is unsupported or ambiguous
// (a Transfer-Encoding other than chunked, or one beside a
// Content-Length) is refused and its connection closed, and a body sent to
// a route that takes none closes the connection after the answer: in
// neither case are the bytes after it read as a request of their own,
// which a front proxy reusing the connection would have answered to
// another client (HTTP request smuggling).
func TestHostileRequestFraming(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.subscribe("all", sub{rec: newRecorder(t, "all", 1)})
	g := w.start()
	const hidden = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name, raw string
		answers   int  // how many answers, 1 unless the request is sound
		refused   bool // the first answer is a 4xx or 5xx
		kept      bool // the connection stays open after the answers
	}{
		{"unknown transfer coding beside a length",
			"POST /webhooks/iimmpact HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + hidden, 1, true, false},
		{"gzip then chunked",
			"POST /webhooks/iimmpact HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + hidden, 1, true, false},
		{"chunked beside a length",
			"POST /webhooks/iimmpact HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden, 1, true, false},
		{"a body for /healthz",
			"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(hidden)) + "\r\n\r\n" + hidden, 1, false, false},
		{"a body for /readyz",
			"GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(hidden)) + "\r\n\r\n" + hidden, 1, false, false},
		{"a body for HEAD /webhooks/iimmpact",
			"HEAD /webhooks/iimmpact HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(hidden)) + "\r\n\r\n" + hidden, 1, false, false},
		{"two sound requests on one connection", hidden + hidden, 2, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			codes, closed := exchange(t, g.listen, tc.raw)
			if len(codes) != tc.answers {
				t.Fatalf("answers = %v, want %d: the bytes after the request were read as another", codes, tc.answers)
			}
			if refused := codes[0] >= 400; refused != tc.refused {
				t.Errorf("answer %d, want refused=%v", codes[0], tc.refused)
			}
			if closed == tc.kept {
				t.Errorf("connection closed=%v after the answers, want %v", closed, !tc.kept)
			}
		})
	}
}
