package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (SPEC 4).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook-timestamp may be from the verifier's
// clock, the Standard Webhooks reference value; it bounds replays.
const DefaultTolerance = 5 * time.Minute

// Verification errors. They never carry key material or signatures.
var (
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	ErrBadTimestamp   = errors.New("webhook-timestamp is not unix seconds")
	ErrTooOld         = errors.New("webhook-timestamp too old")
	ErrTooNew         = errors.New("webhook-timestamp too far in the future")
	ErrNoMatch        = errors.New("no matching signature")
)

// Sign returns the webhook-signature value for a message: one "v1,<base64>"
// entry per key, space-separated, each an HMAC-SHA256 over
// "{msgID}.{unix seconds}.{body}". One entry per key lets a subscriber that
// knows any one of the keys verify during a secret rotation.
func Sign(keys [][]byte, msgID string, ts time.Time, body []byte) string {
	prefix := signedPrefix(msgID, ts)
	var b strings.Builder
	b.Grow(len(keys) * 48)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac(k, prefix, body)))
	}
	return b.String()
}

// Verify checks a request signed by Sign: the headers must be present, the
// timestamp within tolerance of now (tolerance <= 0 means DefaultTolerance),
// and at least one v1 entry must match one of keys. Comparison is constant
// time. It exists for `hookgate consume` and the benchmark sinks; the
// gateway itself only signs.
func Verify(keys [][]byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsRaw, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return ErrMissingHeaders
	}
	secs, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts := time.Unix(secs, 0)
	if now.Sub(ts) > tolerance {
		return fmt.Errorf("verify %s: %w", id, ErrTooOld)
	}
	if ts.Sub(now) > tolerance {
		return fmt.Errorf("verify %s: %w", id, ErrTooNew)
	}
	prefix := signedPrefix(id, ts)
	want := make([][]byte, len(keys))
	for i, k := range keys {
		want[i] = mac(k, prefix, body)
	}
	for _, entry := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				return nil
			}
		}
	}
	return fmt.Errorf("verify %s: %w", id, ErrNoMatch)
}

// signedPrefix is "{id}.{ts}." — the part of the signed content before the
// body, built once so that the body is never copied.
func signedPrefix(msgID string, ts time.Time) []byte {
	p := make([]byte, 0, len(msgID)+22)
	p = append(p, msgID...)
	p = append(p, '.')
	p = strconv.AppendInt(p, ts.Unix(), 10)
	return append(p, '.')
}

func mac(key, prefix, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(prefix)
	m.Write(body)
	return m.Sum(nil)
}
