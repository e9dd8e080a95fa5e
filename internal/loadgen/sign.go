// Package loadgen is the machinery behind `make bench` (cmd/hookbench): a
// cheap generator of signed upstream webhooks, a fasthttp load driver,
// light subscriber sinks that count every delivery and verify a sample,
// latency statistics and a throwaway redis-server.
//
// It re-implements the providers' signing rules from SPEC section 3 and the
// Standard Webhooks check from section 4 on purpose instead of importing the
// gateway's plugins: a benchmark that shares the gateway's code would agree
// with the gateway's bugs.
package loadgen

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Provider signature headers, SPEC section 3.
const (
	IimmpactHeader   = "X-Webhook-Signature"
	Catalog360Header = "X-C360-Signature"
)

// SignIimmpact returns the X-Webhook-Signature value for body: "sha256=" and
// the hex HMAC-SHA256 of the raw body keyed with the secret's bytes.
func SignIimmpact(body, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignCatalog360 returns the X-C360-Signature value for body: standard,
// padded base64 of the HMAC-SHA256 of the raw body keyed with the secret's
// bytes.
func SignCatalog360(body, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// appendIimmpactSig appends the iimmpact header value for sum, the raw
// HMAC, to dst without allocating.
func appendIimmpactSig(dst, sum []byte) []byte {
	dst = append(dst, "sha256="...)
	return hex.AppendEncode(dst, sum)
}

// appendCatalog360Sig appends the catalog360 header value for sum, the raw
// HMAC, to dst without allocating.
func appendCatalog360Sig(dst, sum []byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, sum)
}
