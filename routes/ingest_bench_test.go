package routes_test

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/deliver"
	"github.com/hookgate/hookgate/plugins/iimmpact"
	"github.com/hookgate/hookgate/routes"
)

// BenchmarkIngestHandler is the public listener's handler, in process, on
// the embedded store: one signed IIMMPACT event per request, the same one
// each time (a redelivery after the first, so that the store does not
// grow), with and without a W3C traceparent. Its allocations are the
// ingest path's; with tracing off, the traceparent costs none.
func BenchmarkIngestHandler(b *testing.B) {
	cfg := testConfig(b, "bench.yaml", `
sources:
  shop:
    provider: iimmpact
    secrets: ["`+shopSecret+`"]
subscribers:
  indexer:
    url: "http://127.0.0.1:1/hook"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
`)
	store := testStore(b)
	in := testIngester(b, cfg, store, nil)
	eng := deliver.New(store, cfg.Subscribers, deliver.Options{}) // not started: nothing is delivered
	public, _ := routes.New(routes.Deps{Ingester: in, Store: store, Engine: eng, StoreKind: gateway.StoreEmbedded, Version: "bench"})
	h := public.Handler()
	body := []byte(product("BENCH1"))
	name, value := iimmpact.Provider{}.Sign(body, []byte(shopSecret))
	for _, bc := range []struct{ name, traceparent string }{
		{"plain", ""},
		{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.Header.SetMethod(fasthttp.MethodPost)
				ctx.Request.SetRequestURI("/webhooks/shop")
				ctx.Request.Header.SetContentType("application/json")
				ctx.Request.Header.Set(name, value)
				if bc.traceparent != "" {
					ctx.Request.Header.Set("traceparent", bc.traceparent)
				}
				ctx.Request.SetBodyRaw(body)
				h(&ctx)
				if code := ctx.Response.StatusCode(); code != fasthttp.StatusOK {
					b.Fatalf("status %d: %s", code, ctx.Response.Body())
				}
			}
		})
	}
}
