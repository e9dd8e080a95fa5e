package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// assetItem is a catalog360 assetitem event of the given action
// (created, updated, deleted) for the object A<n>: creations carry only
// new, deletions only old, updates both.
func assetItem(action string, n int) c360Event {
	id := fmt.Sprintf("A%03d", n)
	oldState := map[string]any{"id": id, "sku": "SKU-" + id, "rev": 1, "price": 9.5}
	newState := map[string]any{"id": id, "sku": "SKU-" + id, "rev": 2, "price": 10.25, "tags": []any{"x", "y"}}
	payload := map[string]any{}
	switch action {
	case "created":
		payload["new"] = newState
	case "updated":
		payload["old"], payload["new"] = oldState, newState
	case "deleted":
		payload["old"] = oldState
	}
	return c360Event{EventClass: "assetitem_" + action, PayloadClass: "assetitem", Payload: payload, DeliveryNo: n + 1}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// A catalog360 batch of 100 events becomes 100 envelopes; updates carry
// the old state as previous. The registration ping and HEAD are answered
// 200 and fan out nothing.
func TestCatalog360Batch(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		r := newRecorder(t, "all", 1)
		w.subscribe("all", sub{rec: r})
		g := w.start()

		actions := []string{"created", "updated", "deleted"}
		events := make([]c360Event, 100)
		for i := range events {
			events[i] = assetItem(actions[i%3], i)
		}
		if code, msg, err := g.sendC360(c360Key, c360Batch(events)); err != nil || code != http.StatusOK {
			t.Fatalf("batch of 100: got %d %q (%v), want 200", code, msg, err)
		}
		r.waitN(t, 100, 60*time.Second)

		for i, ev := range events {
			action := actions[i%3]
			subject := fmt.Sprintf("assetitem/A%03d", i)
			typ := "catalog360.assetitem." + action
			got, ok := r.find(typ, subject)
			if !ok {
				t.Errorf("event %d: no %s for %s", i, typ, subject)
				continue
			}
			e := got.env
			if e.Source != "catalog360" || e.SpecVersion != "1.0" {
				t.Errorf("%s: source %q specversion %q, want catalog360 1.0", subject, e.Source, e.SpecVersion)
			}
			switch action {
			case "created":
				if !jsonEqual(t, e.Data.Object, mustJSON(ev.Payload["new"])) {
					t.Errorf("%s created: data.object got %s, want new %s", subject, e.Data.Object, mustJSON(ev.Payload["new"]))
				}
				if !isNull(e.Data.Previous) {
					t.Errorf("%s created: data.previous got %s, want none", subject, e.Data.Previous)
				}
			case "updated":
				if !jsonEqual(t, e.Data.Object, mustJSON(ev.Payload["new"])) {
					t.Errorf("%s updated: data.object got %s, want new %s", subject, e.Data.Object, mustJSON(ev.Payload["new"]))
				}
				if isNull(e.Data.Previous) || !jsonEqual(t, e.Data.Previous, mustJSON(ev.Payload["old"])) {
					t.Errorf("%s updated: data.previous got %s, want old %s", subject, e.Data.Previous, mustJSON(ev.Payload["old"]))
				}
			case "deleted":
				// "for deletions the last known state or null": old, or null.
				if !isNull(e.Data.Object) && !jsonEqual(t, e.Data.Object, mustJSON(ev.Payload["old"])) {
					t.Errorf("%s deleted: data.object got %s, want old %s or null", subject, e.Data.Object, mustJSON(ev.Payload["old"]))
				}
			}
		}

		// HEAD is how catalog360 checks the URL.
		req, _ := http.NewRequest(http.MethodHead, g.url("/webhooks/catalog360"), nil)
		resp, err := g.client().Do(req)
		if err != nil {
			t.Fatalf("HEAD /webhooks/catalog360: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD /webhooks/catalog360: got %d, want 200", resp.StatusCode)
		}

		// The registration test: an empty batch signed with "test-webhook".
		if code, msg, err := g.sendC360("test-webhook", c360Batch(nil)); err != nil || code != http.StatusOK {
			t.Errorf("test-webhook ping: got %d %q (%v), want 200", code, msg, err)
		}
		// A non-empty batch signed with "test-webhook" is not a ping.
		if code, msg, err := g.sendC360("test-webhook", c360Batch([]c360Event{assetItem("created", 500)})); err != nil || code != http.StatusUnauthorized {
			t.Errorf("non-empty batch signed with test-webhook: got %d %q (%v), want 401", code, msg, err)
		}
		// A marker sent after the ping: once it is in, a ping delivery would be too.
		if code, msg, err := g.sendC360(c360Key, c360Batch([]c360Event{assetItem("created", 900)})); err != nil || code != http.StatusOK {
			t.Fatalf("marker: got %d %q (%v), want 200", code, msg, err)
		}
		r.waitN(t, 101, 30*time.Second)
		if n, dup := r.counts(); n != 101 || dup != 0 {
			t.Errorf("after ping and marker: got %d events (%d duplicates), want 101 and 0", n, dup)
		}
		var page eventPage
		g.adminGet(t, "/admin/api/events?source=catalog360&limit=500", &page)
		if len(page.Events) != 101 {
			t.Errorf("admin lists %d catalog360 events, want 101 (the ping stores none)", len(page.Events))
		}
	})
}
