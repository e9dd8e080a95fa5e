package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
)

// HasSecret reports whether any of secrets is usable (non-empty). A
// provider with none must verify nothing: an empty HMAC key is public.
func HasSecret(secrets [][]byte) bool {
	for _, s := range secrets {
		if len(s) > 0 {
			return true
		}
	}
	return false
}

// MatchHMACSHA256 reports whether sig is the HMAC-SHA256 of body under any
// of the non-empty secrets, comparing in constant time. Empty secrets are
// skipped, never tried.
func MatchHMACSHA256(body, sig []byte, secrets [][]byte) bool {
	var sum [sha256.Size]byte
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		m := hmac.New(sha256.New, s)
		m.Write(body)
		if hmac.Equal(m.Sum(sum[:0]), sig) {
			return true
		}
	}
	return false
}
