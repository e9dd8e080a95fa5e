package e2e

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"
)

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// An IIMMPACT product.updated reaches every matching subscriber once, as
// one signed envelope, and nobody else; product.deleted arrives with a null
// object.
func TestIimmpactReachesMatchingSubscribers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		products := newRecorder(t, "products", 2) // two secrets: rotation
		everything := newRecorder(t, "everything", 1)
		options := newRecorder(t, "options", 1)
		c360only := newRecorder(t, "c360only", 1)
		w.subscribe("products", sub{rec: products, events: []string{"iimmpact.product.*"}, headers: map[string]string{"X-Team": "search"}})
		w.subscribe("everything", sub{rec: everything})
		w.subscribe("options", sub{rec: options, events: []string{"iimmpact.option.**"}})
		w.subscribe("c360only", sub{rec: c360only, sources: []string{"catalog360"}})
		g := w.start()

		updated := product("CELCOM10", 0)
		deleted := iimmpactEvent{Type: "product.deleted", Resource: "products", ID: "CELCOM10",
			Timestamp: "2024-01-15T11:00:00.000Z", Data: json.RawMessage("null")}
		g.mustAccept(updated)
		// Signed with the older of the source's two secrets: either verifies.
		if code, msg, err := g.sendIimmpact(iimmpactOld, deleted.body()); err != nil || code != http.StatusOK {
			t.Fatalf("product.deleted signed with the rotated secret: got %d %q (%v), want 200", code, msg, err)
		}

		for _, r := range []*recorder{products, everything} {
			r.waitN(t, 2, 30*time.Second)
			up, ok := r.find("iimmpact.product.updated", "product/CELCOM10")
			if !ok {
				t.Fatalf("%s: no iimmpact.product.updated for product/CELCOM10 among %d", r.name, len(r.all()))
			}
			e := up.env
			checks := []struct{ field, got, want string }{
				{"specversion", e.SpecVersion, "1.0"},
				{"source", e.Source, "iimmpact"},
				{"datacontenttype", e.DataContentType, "application/json"},
				{"time", e.Time.UTC().Format(time.RFC3339Nano), "2024-01-15T10:30:00Z"},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: updated envelope %s: got %q, want %q", r.name, c.field, c.got, c.want)
				}
			}
			if !jsonEqual(t, e.Data.Object, updated.Data) {
				t.Errorf("%s: data.object: got %s, want %s", r.name, e.Data.Object, updated.Data)
			}
			if !isNull(e.Data.Previous) {
				t.Errorf("%s: data.previous: got %s, want none (IIMMPACT gives no prior state)", r.name, e.Data.Previous)
			}
			if c := r.copies(e.ID); c != 1 {
				t.Errorf("%s: got %d copies of %s, want 1", r.name, c, e.ID)
			}

			del, ok := r.find("iimmpact.product.deleted", "product/CELCOM10")
			if !ok {
				t.Fatalf("%s: no iimmpact.product.deleted for product/CELCOM10", r.name)
			}
			if string(del.env.Data.Object) != "null" {
				t.Errorf("%s: deleted data.object: got %q, want null", r.name, del.env.Data.Object)
			}
			if del.env.ID == e.ID {
				t.Errorf("%s: updated and deleted share id %s", r.name, e.ID)
			}
		}
		if up, ok := products.find("iimmpact.product.updated", "product/CELCOM10"); ok {
			if got := up.header.Get("X-Team"); got != "search" {
				t.Errorf("products: X-Team header: got %q, want the configured \"search\"", got)
			}
		}

		// The admin API routed the event to exactly the two matching subscribers.
		id := g.eventID(t, "iimmpact.product.updated", "product/CELCOM10")
		g.waitDelivery(t, id, "products", "delivered")
		d := g.event(t, id)
		var names []string
		for _, dl := range d.Deliveries {
			names = append(names, dl.Subscriber)
		}
		sort.Strings(names)
		if want := []string{"everything", "products"}; !reflect.DeepEqual(names, want) {
			t.Errorf("deliveries of %s: got %v, want %v", id, names, want)
		}

		// Markers that options and c360only do match: once they arrive, the
		// product events would have too, had they been routed there.
		g.mustAccept(iimmpactEvent{Type: "option.updated", Resource: "options", ID: "OPT1",
			Timestamp: "2024-01-15T12:00:00.000Z", Data: json.RawMessage(`{"id":"OPT1"}`)})
		if code, msg, err := g.sendC360(c360Key, c360Batch([]c360Event{assetItem("created", 0)})); err != nil || code != http.StatusOK {
			t.Fatalf("catalog360 marker: got %d %q (%v), want 200", code, msg, err)
		}
		options.waitN(t, 1, 30*time.Second)
		c360only.waitN(t, 1, 30*time.Second)
		everything.waitN(t, 4, 30*time.Second)
		for _, r := range []*recorder{options, c360only} {
			if n, _ := r.counts(); n != 1 {
				t.Errorf("%s: got %d events, want only its 1 marker: %v", r.name, n, r.all())
			}
		}
		if n, _ := products.counts(); n != 2 {
			t.Errorf("products: got %d events, want the 2 product events", n)
		}

		// Admin requires the bearer token.
		req, _ := http.NewRequest(http.MethodGet, "http://"+g.admin+"/admin/api/subscribers", nil)
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatalf("GET /admin/api/subscribers without token: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /admin/api/subscribers without token: got %d, want 401", resp.StatusCode)
		}
	})
}

// The same upstream request sent twice is answered 200 both times and
// delivered once to each subscriber.
func TestRedeliveryIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		a := newRecorder(t, "a", 1)
		bb := newRecorder(t, "b", 1)
		w.subscribe("a", sub{rec: a})
		w.subscribe("b", sub{rec: bb})
		g := w.start()

		ev := product("DIGI5", 1)
		batch := c360Batch([]c360Event{assetItem("updated", 7)})
		for i := range 2 {
			g.mustAccept(ev)
			if code, msg, err := g.sendC360(c360Key, batch); err != nil || code != http.StatusOK {
				t.Fatalf("catalog360 batch, send %d: got %d %q (%v), want 200", i+1, code, msg, err)
			}
		}
		for _, r := range []*recorder{a, bb} {
			r.waitN(t, 2, 30*time.Second)
		}
		for _, typ := range []struct{ typ, subject string }{
			{"iimmpact.product.updated", "product/DIGI5"},
			{"catalog360.assetitem.updated", "assetitem/A007"},
		} {
			id := g.eventID(t, typ.typ, typ.subject)
			for _, name := range []string{"a", "b"} {
				dl := g.waitDelivery(t, id, name, "delivered")
				if dl.Attempts != 1 {
					t.Errorf("%s to %s: got %d attempts, want 1", id, name, dl.Attempts)
				}
			}
			d := g.event(t, id)
			if len(d.Deliveries) != 2 {
				t.Errorf("%s: got %d deliveries, want 2 (one per subscriber)", id, len(d.Deliveries))
			}
			if d.Duplicates != 1 {
				t.Errorf("%s: got duplicates %d, want 1", id, d.Duplicates)
			}
		}
		// A later event arriving proves the workers have moved past the pair.
		g.mustAccept(product("MARKER", 2))
		for _, r := range []*recorder{a, bb} {
			r.waitN(t, 3, 30*time.Second)
			for id := range r.all() {
				if c := r.copies(id); c != 1 {
					t.Errorf("%s: got %d copies of %s, want 1", r.name, c, id)
				}
			}
		}
	})
}
