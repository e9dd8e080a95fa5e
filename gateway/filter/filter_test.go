package filter_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/filter"
)

// envelope is an IIMMPACT-like envelope with the given type, object and
// previous state (JSON; "" for none).
func envelope(typ, object, previous string) gateway.Envelope {
	ev := gateway.Event{
		Identity: typ + object,
		Type:     typ,
		Subject:  "product/CELCOM10",
		Time:     time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
	}
	if object != "" {
		ev.Object = json.RawMessage(object)
	}
	if previous != "" {
		ev.Previous = json.RawMessage(previous)
	}
	return gateway.NewEnvelope("iimmpact", ev, ev.Time.Add(time.Second))
}

func mustCompile(t testing.TB, expr string) *filter.Filter {
	t.Helper()
	f, err := filter.Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return f
}

// TestFilterMatch evaluates filters on envelopes: what passes, what does
// not, and what fails (an error, which counts as not passing).
func TestFilterMatch(t *testing.T) {
	const (
		active   = `{"product_code":"CELCOM10","price":9.8,"denomination":10,"is_active":true,"tags":["prepaid","celcom"],"name":"Celcom Prepaid"}`
		inactive = `{"product_code":"CELCOM10","price":9.8,"is_active":false}`
		noFlag   = `{"product_code":"CELCOM10","price":9.8}`
		updated  = "iimmpact.product.updated"
		deleted  = "iimmpact.product.deleted"
		isActive = "event.data.object.is_active == true"
	)
	var many []string
	for i := range 3000 {
		many = append(many, fmt.Sprint(i))
	}
	big := `{"items":[` + strings.Join(many, ",") + `]}`
	tests := []struct {
		name, filter          string
		typ, object, previous string
		want                  bool
		err                   string // a part of the error; "" for none
	}{
		{"active product", isActive, updated, active, "", true, ""},
		{"inactive product", isActive, updated, inactive, "", false, ""},
		{"missing field", isActive, updated, noFlag, "", false, "no such key: is_active"},
		{"deletion: object null", isActive, deleted, "null", "", false, "is_active"},
		{"deletion: object absent", isActive, deleted, "", "", false, "is_active"},
		{"deletions let through first", `event.type.endsWith(".deleted") || ` + isActive, deleted, "null", "", true, ""},
		{"has() on a missing field", "has(event.data.object.is_active) && " + isActive, updated, noFlag, "", false, ""},
		{"optional field", "event.data.object.?is_active.orValue(false)", updated, noFlag, "", false, ""},
		{"has() on a null object", "has(event.data.object.is_active) && " + isActive, deleted, "null", "", false, ""},
		{"optional field of a null object", "event.data.object.?is_active.orValue(false)", deleted, "null", "", false, ""},
		{"and with the type", isActive + ` && event.type.startsWith("iimmpact.product.")`, updated, active, "", true, ""},
		{"number against an int", "event.data.object.denomination == 10 && event.data.object.price < 10", updated, active, "", true, ""},
		{"list in data", `"celcom" in event.data.object.tags`, updated, active, "", true, ""},
		{"string function", `event.data.object.name.lowerAscii().startsWith("celcom")`, updated, active, "", true, ""},
		{"subject, source, id", `event.subject == "product/CELCOM10" && event.source == "iimmpact" && event.id.startsWith("evt_")`, updated, noFlag, "", true, ""},
		{"time as the envelope has it", `event.time == "2024-01-15T10:30:00Z"`, updated, noFlag, "", true, ""},
		{"time as a timestamp", `timestamp(event.time) < timestamp("2024-02-01T00:00:00Z")`, updated, noFlag, "", true, ""},
		{"previous absent", "has(event.data.previous)", updated, active, "", false, ""},
		{"previous present", "event.data.previous.price > event.data.object.price", updated, inactive, `{"price":12}`, true, ""},
		{"previous read when absent", "event.data.previous.price > 1.0", updated, inactive, "", false, "no such key: previous"},
		{"dyn result not a bool", "event.data.object.price", updated, active, "", false, "result is double, not a bool"},
		{"wrong type at run time", "event.data.object.product_code > 1", updated, active, "", false, "no such overload"},
		{"a number past a double elsewhere in data", isActive, updated, `{"is_active":true,"weight":1e400,"list":[-1e400]}`, "", true, ""},
		{"a number past a double is +Inf", "event.data.object.price > 1e308", updated, `{"price":1e400}`, "", true, ""},
		{"a negative one is -Inf", "event.data.object.price < -1e308 && event.data.object.price == -double('inf')", updated, `{"price":-1e400}`, "", true, ""},
		{"and equals infinity", "event.data.object.price == double('inf')", updated, `{"price":1E+400}`, "", true, ""},
		{"past a double in previous", "event.data.previous.price > event.data.object.price", updated, inactive, `{"price":2e999}`, true, ""},
		{"cost limit", "event.data.object.items.exists(x, event.data.object.items.exists(y, x < y && y < 0))", updated, big, "", false, "cost limit exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.filter)
			got, err := f.Match(gateway.NewFilterInput(envelope(tt.typ, tt.object, tt.previous)))
			if got != tt.want {
				t.Errorf("Match = %v, want %v (error %v)", got, tt.want, err)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

// TestFilterDecodesDataOnlyWhenRead: a filter on type, subject or source
// never decodes the data (an envelope whose data is not JSON passes it),
// while one that reads event.data does, and fails on bad JSON.
func TestFilterDecodesDataOnlyWhenRead(t *testing.T) {
	env := envelope("iimmpact.product.updated", `{"is_active": tru`, "")
	in := gateway.NewFilterInput(env)
	for _, expr := range []string{
		`event.type == "iimmpact.product.updated"`,
		`event.subject.startsWith("product/") && event.source == "iimmpact"`,
	} {
		if ok, err := mustCompile(t, expr).Match(in); !ok || err != nil {
			t.Errorf("%s: Match = %v, %v; want true, nil: the data is not read", expr, ok, err)
		}
	}
	for _, expr := range []string{`event.data.object.is_active == true`, `has(event.data)`, `event.type == "x" || event.data.size() > 0`} {
		if ok, err := mustCompile(t, expr).Match(in); ok || err == nil || !strings.Contains(err.Error(), "decode data.object") {
			t.Errorf("%s: Match = %v, %v; want false and the decode error", expr, ok, err)
		}
	}
}

// TestFilterConcurrent: one compiled filter serves every ingest request at
// once (run under -race).
func TestFilterConcurrent(t *testing.T) {
	f := mustCompile(t, `event.data.object.is_active == true && event.type.startsWith("iimmpact.product.")`)
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 200 {
				active := (g+i)%2 == 0
				env := envelope("iimmpact.product.updated", fmt.Sprintf(`{"is_active":%v,"n":%d}`, active, i), "")
				ok, err := f.Match(gateway.NewFilterInput(env))
				if err != nil || ok != active {
					done <- fmt.Errorf("event %d of %d: Match = %v, %v; want %v", i, g, ok, err, active)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
