package deliver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
)

// maxReason bounds a recorded reason; the admin API shows it in tables.
const maxReason = 200

// Reason is the short text recorded in an attempt's error field and shown
// as a subscriber's last_error: "HTTP 400", "connect: connection refused",
// "timeout after 10s". It never includes the request URL, which may carry
// credentials, nor headers or bodies. It is "" for a 2xx answer.
func Reason(status int, err error, timeout time.Duration) string {
	if err == nil {
		switch {
		case status >= 200 && status < 300:
			return ""
		case status >= 300 && status < 400:
			return "HTTP " + strconv.Itoa(status) + " (redirect not followed)"
		default:
			return "HTTP " + strconv.Itoa(status)
		}
	}
	return clip(errReason(err, timeout))
}

func errReason(err error, timeout time.Duration) string {
	var te *tokenError
	if errors.As(err, &te) {
		return te.reason(timeout)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout after " + timeout.String()
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error's text has the URL in it
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "dns: " + dns.Err
	}
	var op *net.OpError
	if errors.As(err, &op) {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Syscall + ": " + sys.Err.Error() // "connect: connection refused"
		}
		if op.Op == "dial" {
			return "connect: " + op.Err.Error()
		}
		return op.Op + ": " + op.Err.Error()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed before a response"
	}
	return err.Error()
}

func clip(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return s[:maxReason-3] + "..."
}
