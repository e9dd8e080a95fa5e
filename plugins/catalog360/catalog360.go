// Package catalog360 decodes Catalog360 webhooks: a batch of up to 100
// events per request, signed with "X-C360-Signature: <base64 HMAC-SHA256 of
// the body>". A request whose batch is empty and that is signed with the key
// "test-webhook" is Catalog360's registration test.
//
// Importing the package registers it as provider "catalog360".
package catalog360

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/hookgate/hookgate/gateway"
)

// Name is the provider's name in sources.<source>.provider.
const Name = "catalog360"

// Header carries the signature: standard padded base64 of the HMAC-SHA256
// of the raw body, keyed with the secret's bytes.
const Header = "X-C360-Signature"

// TestKey is the key Catalog360 signs its registration test with, before
// the account's own key is known to the receiver.
const TestKey = "test-webhook"

// MaxEvents is the most events Catalog360 puts in one request; a larger
// batch is not one of its payloads.
const MaxEvents = 100

func init() { gateway.RegisterProvider(Name, Provider{}) }

var (
	_ gateway.Provider      = Provider{}
	_ gateway.Sampler       = Provider{}
	_ gateway.SampleStamper = Provider{}
	_ gateway.SecretChecker = Provider{}
)

// Provider is the Catalog360 webhook decoder. It has no state; the zero
// value is ready and safe for concurrent use.
type Provider struct{}

// Errors are built once: Decode is on the ingest hot path. None names a
// secret or echoes the signature.
var (
	errNoSecret  = fmt.Errorf("verify %s: %w: no usable secret configured", Header, gateway.ErrSignature)
	errNoHeader  = fmt.Errorf("verify %s: %w: header missing", Header, gateway.ErrSignature)
	errBadHeader = fmt.Errorf("verify %s: %w: header is not padded base64 of 32 bytes", Header, gateway.ErrSignature)
	errNoMatch   = fmt.Errorf("verify %s: %w: matches no secret", Header, gateway.ErrSignature)
	errTestKey   = fmt.Errorf("verify %s: %w: the %s key signs only an empty batch", Header, gateway.ErrSignature, TestKey)
)

var (
	testKey = []byte(TestKey)
	// strictB64 refuses non-zero padding bits, so each MAC has exactly one
	// accepted spelling.
	strictB64 = base64.StdEncoding.Strict()
)

// Decode verifies req's signature against secrets over the raw body, then
// decodes its batch. See gateway.Provider for the error contract. When no
// secret verifies but TestKey does, an empty batch is the registration
// test (Batch.Test) and anything else is refused with ErrSignature: the
// test key is public, so it must never let events in.
func (Provider) Decode(req gateway.Request, secrets [][]byte) (gateway.Batch, error) {
	test, err := verify(req, secrets)
	if err != nil {
		return gateway.Batch{}, err
	}
	if test {
		return decodeTest(req.Body)
	}
	events, err := decodeBatch(req.Body)
	if err != nil {
		return gateway.Batch{}, err
	}
	return gateway.Batch{Events: events}, nil
}

// CheckSecret refuses TestKey as an account secret: the key is public, so
// a source configured with it would accept batches anyone can sign.
func (Provider) CheckSecret(secret []byte) error {
	if hmac.Equal(secret, testKey) {
		return fmt.Errorf("%q is catalog360's public registration-test key, not an account secret: use the key catalog360 shows for your webhook", TestKey)
	}
	return nil
}

// Sign returns the header Catalog360 sends with body under secret.
func (Provider) Sign(body, secret []byte) (name, value string) {
	var sum [sha256.Size]byte
	return Header, base64.StdEncoding.EncodeToString(mac(body, secret, &sum))
}

// mac is HMAC-SHA256(key, body), written into sum.
func mac(body, key []byte, sum *[sha256.Size]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(sum[:0])
}

// verify checks the signature header before anything looks at the body. It
// reports test when only TestKey verified. Empty secrets are skipped, never
// tried, and without a usable secret nothing verifies, not even the test.
func verify(req gateway.Request, secrets [][]byte) (test bool, err error) {
	if !gateway.HasSecret(secrets) {
		return false, errNoSecret
	}
	if req.Header == nil {
		return false, errNoHeader
	}
	v := req.Header.Get(Header)
	if v == "" {
		return false, errNoHeader
	}
	var want [sha256.Size]byte
	if !parseSignature(v, &want) {
		return false, errBadHeader
	}
	if gateway.MatchHMACSHA256(req.Body, want[:], accountSecrets(secrets)) {
		return false, nil
	}
	var sum [sha256.Size]byte
	if hmac.Equal(mac(req.Body, testKey, &sum), want[:]) {
		return true, nil
	}
	return false, errNoMatch
}

// accountSecrets returns secrets without TestKey, which config validation
// refuses; this is the second lock, for a Config built in code. Allocates
// only in that misconfigured case.
func accountSecrets(secrets [][]byte) [][]byte {
	for i, s := range secrets {
		if hmac.Equal(s, testKey) {
			out := append([][]byte{}, secrets[:i]...)
			for _, t := range secrets[i+1:] {
				if !hmac.Equal(t, testKey) {
					out = append(out, t)
				}
			}
			return out
		}
	}
	return secrets
}

// sigLen is the length of padded base64 of a SHA-256 MAC.
const sigLen = (sha256.Size + 2) / 3 * 4

// parseSignature decodes the header into dst without allocating: the value
// is copied to a fixed-size array rather than converted to a slice.
func parseSignature(v string, dst *[sha256.Size]byte) bool {
	if len(v) != sigLen {
		return false
	}
	var src [sigLen]byte
	copy(src[:], v)
	var out [sigLen / 4 * 3]byte
	n, err := strictB64.Decode(out[:], src[:])
	if err != nil || n != sha256.Size {
		return false
	}
	copy(dst[:], out[:n])
	return true
}
