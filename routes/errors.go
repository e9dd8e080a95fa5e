package routes

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/filter"
)

// retryAfterOverload is the Retry-After of a 503 for ErrOverloaded, in
// seconds: bodies in memory drain within a store write or a read timeout.
const retryAfterOverload = "2"

// retryAfterUnavailable is the Retry-After of any other 503 (the store
// unreachable, a failover under way): a few seconds, the time a store
// restart or a failover takes; providers that honour it come back when
// the store likely answers again, those that do not retry on their own
// schedule.
const retryAfterUnavailable = "5"

// maxReason bounds the reason echoed to the client in a 400, so that a
// provider's error message can never turn into a large response.
const maxReason = 200

// statusOf is the one place where errors become HTTP status codes, as caddy's
// modules/caddyhttp/errors.go does it. Anything unexpected is a 503: the
// upstream retries, and an event is never acknowledged by mistake.
func statusOf(err error) int {
	var fe *fiber.Error
	switch {
	case errors.Is(err, gateway.ErrSignature):
		return fiber.StatusUnauthorized
	case errors.Is(err, gateway.ErrPayload), errors.Is(err, gateway.ErrInvalid), isQueryError(err):
		return fiber.StatusBadRequest
	case errors.Is(err, gateway.ErrUnknownSource), errors.Is(err, gateway.ErrNotFound):
		return fiber.StatusNotFound
	case errors.Is(err, gateway.ErrTooLarge):
		return fiber.StatusRequestEntityTooLarge
	case errors.Is(err, gateway.ErrOverloaded):
		return fiber.StatusServiceUnavailable
	case errors.Is(err, gateway.ErrConflict):
		return fiber.StatusConflict
	case errors.As(err, &fe):
		return fe.Code
	default:
		return fiber.StatusServiceUnavailable
	}
}

// publicMessage is what the client is told. Only a 400 (and a request error
// of our own making) carries detail; the rest say no more than the sentinel,
// so that internal addresses and the like stay in the log.
func publicMessage(err error, status int) string {
	var fe *fiber.Error
	switch {
	case status == fiber.StatusBadRequest && (errors.Is(err, gateway.ErrPayload) || errors.Is(err, gateway.ErrInvalid) || isQueryError(err)):
		msg := err.Error()
		if len(msg) > maxReason {
			msg = msg[:maxReason]
		}
		return msg
	case errors.As(err, &fe):
		return fe.Message
	case status == fiber.StatusUnauthorized:
		return gateway.ErrSignature.Error()
	case status == fiber.StatusNotFound && errors.Is(err, gateway.ErrUnknownSource):
		return gateway.ErrUnknownSource.Error()
	case status == fiber.StatusNotFound:
		return gateway.ErrNotFound.Error()
	case status == fiber.StatusRequestEntityTooLarge:
		return gateway.ErrTooLarge.Error()
	case status == fiber.StatusConflict:
		return gateway.ErrConflict.Error() + "; try again once the attempt is recorded"
	case errors.Is(err, gateway.ErrOverloaded):
		return gateway.ErrOverloaded.Error()
	default:
		return gateway.ErrUnavailable.Error()
	}
}

// isQueryError reports whether err is a search (?q=) that does not
// compile: the client's mistake, told with where it is.
func isQueryError(err error) bool {
	var qe *filter.QueryError
	return errors.As(err, &qe)
}

// errorHandler answers every error with {"error": "..."} and its status, and
// logs each refusal: at info, or error for a 503 (the store or the body
// budget), sampled to one line a second per status with a count of the
// lines held back, so a flood of bad requests cannot flood the log.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	limits := map[int]*logLimiter{
		fiber.StatusUnauthorized:          {},
		fiber.StatusBadRequest:            {},
		fiber.StatusNotFound:              {},
		fiber.StatusRequestEntityTooLarge: {},
		fiber.StatusServiceUnavailable:    {},
	}
	return func(c *fiber.Ctx, err error) error {
		status := statusOf(err)
		if errors.Is(err, gateway.ErrOverloaded) {
			// Refused before the body was read: the rest of it is still on
			// the wire, so the connection cannot carry another request.
			c.Set(fiber.HeaderRetryAfter, retryAfterOverload)
			c.Context().SetConnectionClose()
		} else if status == fiber.StatusServiceUnavailable {
			c.Set(fiber.HeaderRetryAfter, retryAfterUnavailable)
		}
		if l, ok := limits[status]; ok {
			var fe *fiber.Error
			if !errors.As(err, &fe) {
				if n, ok := l.allow(time.Now()); ok {
					level := slog.LevelInfo
					if status == fiber.StatusServiceUnavailable {
						level = slog.LevelError
					}
					log.Log(c.UserContext(), level, "request refused",
						"status", status, "method", c.Method(), "path", c.Path(),
						"error", err.Error(), "suppressed", n)
				}
			}
		}
		var qe *filter.QueryError
		if status == fiber.StatusBadRequest && errors.As(err, &qe) {
			// A search that does not compile: where, for the box that
			// took it to point at.
			return c.Status(status).JSON(fiber.Map{"error": publicMessage(err, status), "line": qe.Line, "column": qe.Column})
		}
		return sendError(c, status, publicMessage(err, status))
	}
}

// sendError writes {"error": msg}.
func sendError(c *fiber.Ctx, status int, msg string) error {
	quoted, err := json.Marshal(msg)
	if err != nil {
		quoted = []byte(`"error"`)
	}
	buf := make([]byte, 0, len(quoted)+10)
	buf = append(buf, `{"error":`...)
	buf = append(buf, quoted...)
	buf = append(buf, '}')
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(buf)
}

// logLimiter lets one log line through per second and counts the rest.
type logLimiter struct {
	last       atomic.Int64 // unix second of the last line let through
	suppressed atomic.Int64
}

// allow reports whether a line may be logged now, and how many were
// suppressed since the last one.
func (l *logLimiter) allow(now time.Time) (int64, bool) {
	sec := now.Unix()
	last := l.last.Load()
	if sec <= last || !l.last.CompareAndSwap(last, sec) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}
