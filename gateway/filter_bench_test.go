package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// BenchmarkIngestFilter is the ingest cost of one IIMMPACT product event
// (verify, decode, envelope, route, filter) for a subscriber without a
// filter and with one, the store left out (a Put that only answers). Run
// with: go test -run '^$' -bench IngestFilter -benchmem ./gateway
func BenchmarkIngestFilter(b *testing.B) {
	body, err := os.ReadFile("../plugins/iimmpact/testdata/valid/product_updated.json")
	if err != nil {
		b.Fatal(err)
	}
	list := "[" + strings.TrimSuffix(strings.Repeat("1,", 100), ",") + "]"
	for _, bc := range []struct{ name, filter string }{
		{"none", ""},
		// The search indexer's: reads the data, so decodes it.
		{"typical", `event.data.object.is_active == true && event.type.startsWith("iimmpact.product.")`},
		// On the type alone: the data is never decoded.
		{"type-only", `event.type.endsWith(".updated")`},
		// The worst one can do: stopped by the cost limit, counted as an error.
		{"cost-limit", list + `.exists(x, ` + list + `.exists(y, x < 0))`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := `
sources:
  shop:
    provider: iimmpact
    secrets: ["` + ingestSecret + `"]
subscribers:
  search-indexer:
    url: "http://127.0.0.1:1/search"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
`
			if bc.filter != "" {
				src += "    filter: '" + bc.filter + "'\n"
			}
			cfg, err := config.Parse("bench.yaml", []byte(src), func(string) (string, bool) { return "", false })
			if err != nil {
				b.Fatal(err)
			}
			in, err := gateway.NewIngester(cfg, &putStore{}, gateway.IngesterOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			req := signedRequest(string(body), ingestSecret)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := in.Ingest(ctx, "shop", req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
