package iimmpact

import (
	"net/http"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// BenchmarkDecode measures the ingest hot path: verify and decode one
// realistic event, under a single secret and during a rotation where the
// second secret is the one that verifies.
func BenchmarkDecode(b *testing.B) {
	body, err := Provider{}.Sample("product.updated")
	if err != nil {
		b.Fatal(err)
	}
	secret, old := []byte("bench-secret-0123456789abcdef"), []byte("bench-old-secret-0123456789")
	_, value := Provider{}.Sign(body, secret)
	h := http.Header{}
	h.Set(Header, value)
	req := gateway.Request{Header: h, Body: body}
	for _, bc := range []struct {
		name    string
		secrets [][]byte
	}{
		{"one_secret", [][]byte{secret}},
		{"rotation", [][]byte{old, secret}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := (Provider{}).Decode(req, bc.secrets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
