// Package iimmpact decodes IIMMPACT catalog webhooks: one event per request,
// signed with "X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>".
//
// Importing the package registers it as provider "iimmpact".
package iimmpact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Name is the provider's name in sources.<source>.provider.
const Name = "iimmpact"

// Header carries the signature: "sha256=" and the lowercase hex HMAC-SHA256
// of the raw body, keyed with the secret's bytes.
const Header = "X-Webhook-Signature"

const sigPrefix = "sha256="

func init() { gateway.RegisterProvider(Name, Provider{}) }

// RetryWindow is how long IIMMPACT goes on retrying an event (SPEC 3:
// "IIMMPACT's own retries end within about 15 minutes of the event").
func (Provider) RetryWindow() time.Duration { return 15 * time.Minute }

var (
	_ gateway.Provider      = Provider{}
	_ gateway.Sampler       = Provider{}
	_ gateway.SampleStamper = Provider{}
	_ gateway.RetryWindower = Provider{}
)

// Provider is the IIMMPACT catalog webhook decoder. It has no state; the
// zero value is ready and safe for concurrent use.
type Provider struct{}

// Errors are built once: Decode is on the ingest hot path, and a refused
// request should cost no more than an accepted one. None names a secret or
// echoes the signature.
var (
	errNoSecret  = fmt.Errorf("verify %s: %w: no usable secret configured", Header, gateway.ErrSignature)
	errNoHeader  = fmt.Errorf("verify %s: %w: header missing", Header, gateway.ErrSignature)
	errBadHeader = fmt.Errorf("verify %s: %w: header is not sha256=<64 hex digits>", Header, gateway.ErrSignature)
	errNoMatch   = fmt.Errorf("verify %s: %w: matches no secret", Header, gateway.ErrSignature)
)

// Decode verifies req's signature against secrets over the raw body, then
// decodes its single event. See gateway.Provider for the error contract.
func (Provider) Decode(req gateway.Request, secrets [][]byte) (gateway.Batch, error) {
	if err := verify(req, secrets); err != nil {
		return gateway.Batch{}, err
	}
	ev, err := decodeEvent(req.Body)
	if err != nil {
		return gateway.Batch{}, err
	}
	return gateway.Batch{Events: []gateway.Event{ev}}, nil
}

// Sign returns the header IIMMPACT sends with body under secret.
func (Provider) Sign(body, secret []byte) (name, value string) {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	var sum [sha256.Size]byte
	return Header, sigPrefix + hex.EncodeToString(mac.Sum(sum[:0]))
}

// verify checks the signature header before anything looks at the body.
// Empty secrets are skipped, never tried: an empty key would let anyone
// forge a signature.
func verify(req gateway.Request, secrets [][]byte) error {
	if !gateway.HasSecret(secrets) {
		return errNoSecret
	}
	if req.Header == nil {
		return errNoHeader
	}
	v := req.Header.Get(Header)
	if v == "" {
		return errNoHeader
	}
	var want [sha256.Size]byte
	if !parseSignature(v, &want) {
		return errBadHeader
	}
	if gateway.MatchHMACSHA256(req.Body, want[:], secrets) {
		return nil
	}
	return errNoMatch
}

// parseSignature decodes "sha256=<64 hex digits>" into dst without
// allocating. The prefix is matched case-insensitively, as header values
// often are by proxies and SDKs; anything else is refused.
func parseSignature(v string, dst *[sha256.Size]byte) bool {
	if len(v) != len(sigPrefix)+2*sha256.Size {
		return false
	}
	if !strings.EqualFold(v[:len(sigPrefix)], sigPrefix) {
		return false
	}
	v = v[len(sigPrefix):]
	for i := range dst {
		hi, ok1 := unhex(v[2*i])
		lo, ok2 := unhex(v[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// unhex is one hex digit's value.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
