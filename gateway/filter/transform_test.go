package filter_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/filter"
)

// The README's three transforms (keep them in step with it).
const (
	// Project fields: only what a search index needs.
	readmeProject = `{"code": event.data.object.product_code, "name": event.data.object.display_name, "price": event.data.object.price}`
	// Rename: the consumer's field names, and the event's type and subject.
	readmeRename = `{"sku": event.data.object.product_code, "amount": event.data.object.price, "active": event.data.object.is_active, "event": event.type, "key": event.subject}`
	// Flatten catalog360's old/new into a diff: the fields of old (which
	// catalog360 sends on updates) whose value changed, each with its old
	// and new value (null when the field went away).
	readmeDiff = `{
  "id": event.data.object.id,
  "changed": event.data.previous.transformMap(k, old,
      !(k in event.data.object) || event.data.object[k] != old,
      {"old": old, "new": event.data.object[?k].orValue(null)})
}`
)

const (
	iimmpactProduct = `{"product_code":"CELCOM10","product_category_code":"MOBILE_PREPAID","name":"Celcom Prepaid","display_name":"Celcom Prepaid Reload RM10","denomination":10,"price":9.8,"cost":9.6,"status":"Active","is_active":true}`
	c360New         = `{"id":"ai_1001","status":"published","title":"Organic Cotton T-Shirt","price":{"amount":"24.90","currency":"EUR"},"weight_kg":0.18}`
	c360Old         = `{"id":"ai_1001","status":"draft","title":"Organic Cotton T-Shirt","price":{"amount":"29.90","currency":"EUR"},"legacy_code":"X1"}`
)

func mustCompileTransform(t testing.TB, expr string) *filter.Transform {
	t.Helper()
	tr, err := filter.CompileTransform(expr, 5<<20)
	if err != nil {
		t.Fatalf("CompileTransform(%q): %v", expr, err)
	}
	return tr
}

// TestTransformApply evaluates transforms on envelopes: the JSON each
// produces, and the errors that make a delivery dead.
func TestTransformApply(t *testing.T) {
	tests := []struct {
		name, expr     string
		typ, obj, prev string
		want, wantErr  string // want: JSON, compared as values
	}{
		{"README project", readmeProject, "iimmpact.product.updated", iimmpactProduct, "",
			`{"code":"CELCOM10","name":"Celcom Prepaid Reload RM10","price":9.8}`, ""},
		{"README rename", readmeRename, "iimmpact.product.updated", iimmpactProduct, "",
			`{"sku":"CELCOM10","amount":9.8,"active":true,"event":"iimmpact.product.updated","key":"product/CELCOM10"}`, ""},
		{"README diff of an update", readmeDiff, "catalog360.assetitem.updated", c360New, c360Old,
			`{"id":"ai_1001","changed":{"status":{"old":"draft","new":"published"},"price":{"old":{"amount":"29.90","currency":"EUR"},"new":{"amount":"24.90","currency":"EUR"}},"legacy_code":{"old":"X1","new":null}}}`, ""},
		{"README diff of a creation, which its filter keeps out", readmeDiff, "catalog360.assetitem.created", `{"id":"ai_1002","status":"draft"}`, "",
			"", "no such key: previous"},
		{"data as it is", "event.data", "iimmpact.product.updated", `{"a":1}`, "", `{"object":{"a":1}}`, ""},
		{"the whole event", "event", "iimmpact.product.updated", `{"a":1}`, "",
			`{"id":"` + envelope("iimmpact.product.updated", `{"a":1}`, "").ID + `","source":"iimmpact","type":"iimmpact.product.updated","subject":"product/CELCOM10","time":"2024-01-15T10:30:00Z","data":{"object":{"a":1}}}`, ""},
		{"scalar string", "event.data.object.product_code", "iimmpact.product.updated", iimmpactProduct, "", `"CELCOM10"`, ""},
		{"scalar number", "event.data.object.price * 2.0", "iimmpact.product.updated", iimmpactProduct, "", `19.6`, ""},
		{"int", "size(event.data.object)", "iimmpact.product.updated", `{"a":1,"b":2}`, "", `2`, ""},
		{"uint", "3u", "iimmpact.product.updated", `{}`, "", `3`, ""},
		{"bool", "event.data.object.is_active", "iimmpact.product.updated", iimmpactProduct, "", `true`, ""},
		{"null", "null", "iimmpact.product.updated", `{}`, "", `null`, ""},
		{"list", `[event.subject, event.type]`, "iimmpact.product.updated", `{}`, "", `["product/CELCOM10","iimmpact.product.updated"]`, ""},
		{"list from a comprehension", `event.data.object.tags.map(t, t.upperAscii())`, "iimmpact.product.updated", `{"tags":["a","b"]}`, "", `["A","B"]`, ""},
		{"object of a deletion is null", `{"gone": event.data.object == null}`, "iimmpact.product.deleted", "", "", `{"gone":true}`, ""},
		{"timestamp as RFC 3339", `{"at": timestamp(event.time) + duration("90s")}`, "iimmpact.product.updated", `{}`, "", `{"at":"2024-01-15T10:31:30Z"}`, ""},
		{"optional present", `event.data.?object.a`, "iimmpact.product.updated", `{"a":"x"}`, "", `"x"`, ""},
		{"optional absent", `event.data.?object.b`, "iimmpact.product.updated", `{"a":"x"}`, "", `null`, ""},
		{"escaped for HTML as envelopes are", `event.data.object.s`, "iimmpact.product.updated", `{"s":"<a&b>"}`, "", `"\u003ca\u0026b\u003e"`, ""},

		{"missing field", `event.data.object.nope`, "iimmpact.product.updated", `{}`, "", "", "no such key: nope"},
		{"int map key", `{1: "a"}`, "iimmpact.product.updated", `{}`, "", "", ""}, // refused at load, below
		{"dyn int map key", `{event.data.object.n: "a"}`, "iimmpact.product.updated", `{"n":1.5}`, "", "", "map key of type double"},
		{"bytes in dyn", `[event.data.object.a, b"x"]`, "iimmpact.product.updated", `{"a":1}`, "", "", "bytes, which JSON cannot"},
		{"duration in dyn", `{"d": duration("1s"), "a": event.data.object.a}`, "iimmpact.product.updated", `{"a":1}`, "", "", "a duration, which JSON cannot"},
		{"NaN", `event.data.object.a / 0.0 * 0.0`, "iimmpact.product.updated", `{"a":1.0}`, "", "", "which JSON cannot"},
		{"infinity", `event.data.object.a / 0.0`, "iimmpact.product.updated", `{"a":1.0}`, "", "", "which JSON cannot"},
		{"wrong type", `event.data.object.a + "x"`, "iimmpact.product.updated", `{"a":1.0}`, "", "", "no such overload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := filter.CompileTransform(tt.expr, 5<<20)
			if tt.want == "" && tt.wantErr == "" {
				if err == nil {
					t.Fatalf("CompileTransform(%q) compiled; want a load error", tt.expr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CompileTransform(%q): %v", tt.expr, err)
			}
			got, err := tr.Apply(gateway.NewFilterInput(envelope(tt.typ, tt.obj, tt.prev)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply = %s, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !json.Valid(got) {
				t.Fatalf("Apply = %s, not JSON", got)
			}
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Errorf("Apply = %s\nwant    %s", got, tt.want)
			}
			if strings.Contains(tt.name, "escaped") && string(got) != tt.want {
				t.Errorf("Apply = %s, want exactly %s", got, tt.want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("want %s: %v", b, err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// TestCompileTransformErrors: what the config load refuses, one line each.
func TestCompileTransformErrors(t *testing.T) {
	tests := []struct{ name, expr, want string }{
		{"syntax", `{"a": event.type`, "Syntax error"},
		{"unknown field of event", `event.typo`, "undefined field 'typo'"},
		{"unknown variable", `evnt.type`, "undeclared reference to 'evnt'"},
		{"bytes", `b"abc"`, "bytes, which JSON cannot hold"},
		{"duration", `duration("1s")`, "a duration, which JSON cannot hold"},
		{"a type", `type(event)`, "JSON cannot hold"},
		{"int keys", `{1: "a"}`, "int keys"},
		{"list of bytes", `[b"a"]`, "bytes, which JSON cannot hold"},
		{"certainly over the cost limit", `lists.range(5000).map(i, lists.range(100))`, "over the limit"},
		{"range over its bound", `lists.range(20000)`, ""}, // compiles; fails at run time (below)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := filter.CompileTransform(tt.expr, 5<<20)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CompileTransform(%q): %v", tt.expr, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("CompileTransform(%q) = %v; want one line containing %q", tt.expr, err, tt.want)
			}
		})
	}
}

// TestTransformBounds: a transform that would run long or build a huge
// value stops with an error, quickly, whatever the data.
func TestTransformBounds(t *testing.T) {
	var items []string
	for i := range 3000 {
		items = append(items, fmt.Sprint(i))
	}
	list := "[" + strings.Join(items, ",") + "]"
	big := strings.Repeat("x", 1<<20)
	obj := fmt.Sprintf(`{"items":%s,"big":%q,"s":"abcdefghij"}`, list, big)
	tests := []struct{ name, expr, want string }{
		{"nested loops over the data", `event.data.object.items.map(x, event.data.object.items.map(y, x + y))`, "cost limit"},
		{"string doubling", `[event.data.object.s].map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a).map(a, a + a)`, "cost limit"},
		{"one large string many times", `event.data.object.items.map(x, event.data.object.big)`, "size limit"},
		{"large string concatenation", `event.data.object.items.map(x, event.data.object.big + event.data.object.big)`, "cost limit"},
		{"large string format", `event.data.object.items.map(x, "%s%s".format([event.data.object.big, event.data.object.big]))`, "cost limit"},
		{"large string quoted", `event.data.object.items.map(x, strings.quote(event.data.object.big))`, "cost limit"},
		{"range over its bound", `lists.range(20000)`, "range"},
		{"data over the size limit", `event.data`, "size limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := filter.CompileTransform(tt.expr, 1<<20) // 1MB: the big string alone fills it
			if err != nil {
				t.Fatalf("CompileTransform: %v", err)
			}
			got, err := tr.Apply(gateway.NewFilterInput(envelope("iimmpact.product.updated", obj, "")))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %d bytes, %v; want an error containing %q", len(got), err, tt.want)
			}
		})
	}
}

// TestTransformDecodesDataOnlyWhenRead: a transform of the envelope's
// attributes alone does not decode the data, so that data which does not
// decode does not fail it.
func TestTransformDecodesDataOnlyWhenRead(t *testing.T) {
	env := envelope("iimmpact.product.updated", `{"a":1}`, "")
	env.Data.Object = json.RawMessage(`{not json`)
	got, err := mustCompileTransform(t, `{"t": event.type}`).Apply(gateway.NewFilterInput(env))
	if err != nil || string(got) != `{"t":"iimmpact.product.updated"}` {
		t.Errorf("Apply = %s, %v", got, err)
	}
	if _, err := mustCompileTransform(t, `event.data.object`).Apply(gateway.NewFilterInput(env)); err == nil {
		t.Error("a transform reading data that does not decode succeeded")
	}
}

// TestTransformEnvelope: the stored envelope with its data replaced, every
// other member as stored, byte for byte.
func TestTransformEnvelope(t *testing.T) {
	env := envelope("iimmpact.product.updated", iimmpactProduct, "")
	body, err := gateway.EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gateway.TransformEnvelope(mustCompileTransform(t, `{"sku": event.data.object.product_code}`), body)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(body), `"data":{"object":`+iimmpactProduct+`}`, `"data":{"sku":"CELCOM10"}`, 1)
	if string(got) != want || want == string(body) {
		t.Errorf("TransformEnvelope =\n%s\nwant\n%s", got, want)
	}
	if _, err := gateway.TransformEnvelope(mustCompileTransform(t, `event.data.object.nope`), body); err == nil {
		t.Error("a failing transform gave a body")
	}
}

// TestTransformEnvelopeDataNotLast: an envelope whose data is not its last
// member (not hookgate's encoding, but valid) has its data replaced where
// it stands too, and a string that looks like a data member is left alone.
func TestTransformEnvelopeDataNotLast(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"t","data":{"object":{"s":",\"data\":1}"}},"source":"x","time":"2024-01-15T10:30:00Z", "ext":"\"data\":"}`)
	got, err := gateway.TransformEnvelope(mustCompileTransform(t, `event.data.object.s`), body)
	want := `{"id":"evt_1","type":"t","data":",\"data\":1}","source":"x","time":"2024-01-15T10:30:00Z", "ext":"\"data\":"}`
	if err != nil || string(got) != want {
		t.Errorf("TransformEnvelope = %s, %v\nwant %s", got, err, want)
	}
	for _, bad := range []string{`{"id":"evt_1"}`, `[1]`, `{"data":`} {
		if got, err := gateway.TransformEnvelope(mustCompileTransform(t, `1`), []byte(bad)); err == nil {
			t.Errorf("TransformEnvelope(%s) = %s, want an error", bad, got)
		}
	}
}

// TestTransformConcurrent: one compiled transform serves every delivery
// worker of its subscriber at once (run with -race).
func TestTransformConcurrent(t *testing.T) {
	tr := mustCompileTransform(t, readmeDiff)
	want := `{"changed":{"legacy_code":{"new":null,"old":"X1"},"price":{"new":{"amount":"24.90","currency":"EUR"},"old":{"amount":"29.90","currency":"EUR"}},"status":{"new":"published","old":"draft"}},"id":"ai_1001"}`
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 50 {
				got, err := tr.Apply(gateway.NewFilterInput(envelope("catalog360.assetitem.updated", c360New, c360Old)))
				if err == nil && string(got) != want {
					err = fmt.Errorf("got %s", got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
