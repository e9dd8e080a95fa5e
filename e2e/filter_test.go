package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// activeFilter is the search indexer's filter of the README.
const activeFilter = "event.data.object.is_active == true"

// catalogProduct is an IIMMPACT product.updated for id as the catalog
// sends it (plugins/iimmpact/testdata/valid/product_updated.json), with
// is_active as given; nil leaves the field out.
func catalogProduct(id string, n int, active *bool) iimmpactEvent {
	data := map[string]any{
		"product_code":          id,
		"product_category_code": "MOBILE_PREPAID",
		"name":                  "Prepaid " + id,
		"denomination":          10,
		"price":                 9.80,
		"status":                "Active",
	}
	if active != nil {
		data["is_active"] = *active
		if !*active {
			data["status"] = "Inactive"
		}
	}
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	ts := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond)
	return iimmpactEvent{Type: "product.updated", Resource: "products", ID: id,
		Timestamp: ts.Format("2006-01-02T15:04:05.000Z"), Data: b}
}

// setFilter gives the world's subscriber name a filter.
func (w *world) setFilter(name, filter string) {
	w.subscribers[name].(map[string]any)["filter"] = filter
}

// A subscriber whose filter is `event.data.object.is_active == true` gets
// exactly the active products among a mix, and no delivery at all is
// created for the others; a subscriber without a filter gets everything.
// A product without is_active and a deletion (data null) are filter
// errors: not delivered to the filtered subscriber, counted in
// hookgate_filter_errors_total. A reload to a filter that does not type
// check is refused and the old filter stays.
func TestFilterActiveProducts(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		indexer := newRecorder(t, "indexer", 1)
		everything := newRecorder(t, "everything", 1)
		w.subscribe("indexer", sub{rec: indexer, events: []string{"iimmpact.product.*"}})
		w.setFilter("indexer", activeFilter)
		w.subscribe("everything", sub{rec: everything})
		g := w.start()

		yes, no := true, false
		var all, active, inactive []string // subjects
		send := func(e iimmpactEvent) {
			g.mustAccept(e)
			all = append(all, "product/"+e.ID)
		}
		for i := range 12 {
			id := fmt.Sprintf("P%02d", i)
			isActive := i%3 != 1
			send(catalogProduct(id, i, &isActive))
			if isActive {
				active = append(active, "product/"+id)
			} else {
				inactive = append(inactive, "product/"+id)
			}
		}
		send(catalogProduct("NOFLAG", 20, nil))
		send(iimmpactEvent{Type: "product.deleted", Resource: "products", ID: "GONE",
			Timestamp: "2024-01-15T11:00:00.000Z", Data: json.RawMessage("null")})
		inactive = append(inactive, "product/NOFLAG", "product/GONE")

		everything.waitSubjects(t, all, 30*time.Second)
		indexer.waitSubjects(t, active, 30*time.Second)
		var got []string
		for _, rc := range indexer.all() {
			got = append(got, rc.env.Subject)
		}
		slices.Sort(got)
		if !slices.Equal(got, active) {
			t.Errorf("indexer got %v, want exactly the active products %v", got, active)
		}
		// Filtered out at ingest: the event has no delivery to the indexer
		// at all, not one that waits or was dropped.
		var page eventPage
		g.adminGet(t, "/admin/api/events?limit=500&source=iimmpact", &page)
		ids := map[string]string{}
		for _, e := range page.Events {
			ids[e.Subject] = e.ID
		}
		for _, subject := range inactive {
			d := g.event(t, ids[subject])
			if dl, ok := d.deliveryTo("indexer"); ok {
				t.Errorf("%s: has a delivery to indexer (%s), want none", subject, dl.Status)
			}
			if _, ok := d.deliveryTo("everything"); !ok {
				t.Errorf("%s: no delivery to everything", subject)
			}
		}
		// NOFLAG and GONE have no is_active to compare: two filter errors.
		if text := g.metricsText(t); !strings.Contains(text, `hookgate_filter_errors_total{subscriber="indexer"} 2`+"\n") {
			t.Errorf("/metrics lacks hookgate_filter_errors_total{subscriber=\"indexer\"} 2:\n%s", grepLines(text, "filter_errors"))
		}

		// A reload to a filter that does not type check is refused whole:
		// the old filter stays in force.
		w.setFilter("indexer", "event.data.object.is_active == 1 && event.type == 3")
		w.rewrite(g)
		if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code/100 == 2 {
			t.Errorf("reload to a filter with a type error: %s, want it refused", statusDetail(code, err))
		}
		g.mustAccept(catalogProduct("LATE-OFF", 30, &no))
		g.mustAccept(catalogProduct("LATE-ON", 31, &yes))
		everything.waitSubjects(t, []string{"product/LATE-OFF", "product/LATE-ON"}, 30*time.Second)
		indexer.waitSubjects(t, []string{"product/LATE-ON"}, 30*time.Second)
		if d := g.event(t, g.eventID(t, "iimmpact.product.updated", "product/LATE-OFF")); len(d.Deliveries) != 1 {
			t.Errorf("inactive product after the refused reload: deliveries %+v, want only everything's", d.Deliveries)
		}
	})
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// `hookgate check` refuses a filter with a type error (a string compared
// with a number), exiting 1 with the file and line of the filter, its key
// and CEL's reason.
func TestFilterTypeErrorCheck(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	indexer := newRecorder(t, "indexer", 1)
	w.subscribe("indexer", sub{rec: indexer})
	w.setFilter("indexer", "event.type == 3")
	g := w.gateway()

	b, err := os.ReadFile(g.config)
	if err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "filter:") {
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatalf("no filter line in the config:\n%s", b)
	}

	stdout, stderr, code := run(t, nil, "check", "-config", g.config)
	if code != 1 {
		t.Fatalf("check: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := fmt.Sprintf("%s:%d: subscribers.indexer.filter: column 12: found no matching overload for '_==_' applied to '(string, int)'",
		filepath.Base(g.config), line)
	if !strings.Contains(stderr, want) {
		t.Errorf("check stderr lacks %q:\n%s", want, stderr)
	}
}
