package catalog360

import (
	"net/http"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// BenchmarkDecode measures the ingest hot path: verify and decode a
// realistic one-event batch and a full batch of MaxEvents.
func BenchmarkDecode(b *testing.B) {
	one, err := Provider{}.Sample("assetitem_updated")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"one_event", one},
		{"full_batch", []byte(batchOf(MaxEvents))},
	} {
		_, value := Provider{}.Sign(bc.body, secret)
		h := http.Header{}
		h.Set(Header, value)
		req := gateway.Request{Header: h, Body: bc.body}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := (Provider{}).Decode(req, [][]byte{secret}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
