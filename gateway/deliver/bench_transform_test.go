package deliver

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/filter"
)

// BenchmarkBody measures what an attempt pays to make its body: nothing
// without a transform (the stored envelope is sent as it is, 0 allocs),
// and for the README's projection and catalog360 diff, the decode,
// evaluation, encode and splice of each attempt.
func BenchmarkBody(b *testing.B) {
	env := gateway.NewEnvelope("catalog360", gateway.Event{
		Identity: "bench", Type: "catalog360.assetitem.updated", Subject: "assetitem/ai_1001",
		Object:   json.RawMessage(`{"id":"ai_1001","asset_id":"as_7Hk2Pq","sku":"TSHIRT-ORG-L-NAVY","status":"published","title":"Organic Cotton T-Shirt","price":{"amount":"24.90","currency":"EUR"},"weight_kg":0.18,"stock":{"on_hand":12}}`),
		Previous: json.RawMessage(`{"id":"ai_1001","asset_id":"as_7Hk2Pq","sku":"TSHIRT-ORG-L-NAVY","status":"draft","title":"Organic Cotton T-Shirt","price":{"amount":"29.90","currency":"EUR"},"weight_kg":0.18,"stock":{"on_hand":30}}`),
	}, time.Now())
	body, err := gateway.EncodeEnvelope(env)
	if err != nil {
		b.Fatal(err)
	}
	c := gateway.Claim{EventID: env.ID, Body: body}
	for _, bc := range []struct{ name, expr string }{
		{"none", ""},
		{"project", `{"id": event.data.object.id, "sku": event.data.object.sku, "status": event.data.object.status}`},
		{"diff", `{"id": event.data.object.id, "changed": event.data.object.transformMap(k, v, !(k in event.data.?previous.orValue({})) || event.data.previous[k] != v, {"old": event.data.?previous[?k].orValue(null), "new": v})}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testSub("bench", "http://127.0.0.1:1/")
			if bc.expr != "" {
				tr, err := filter.CompileTransform(bc.expr, 5<<20)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Transform, cfg.CompiledTransform = bc.expr, tr
			}
			st := newSubState("bench", cfg, nil, &Options{}, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.body(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeliverTransform is BenchmarkDeliver on the embedded store,
// 16 in flight, with a transform projecting the benchmark event's one
// field: beside BenchmarkDeliver/embedded/inflight=16, what a transform
// costs a delivery end to end.
func BenchmarkDeliverTransform(b *testing.B) {
	const expr = `{"n": event.data.object.n, "key": event.subject}`
	tr, err := filter.CompileTransform(expr, 5<<20)
	if err != nil {
		b.Fatal(err)
	}
	for _, bk := range backends {
		if bk.name == "embedded" {
			benchDeliver(b, bk, 16, func(cfg *gateway.SubscriberConfig) {
				cfg.Transform, cfg.CompiledTransform = expr, tr
			})
		}
	}
}
