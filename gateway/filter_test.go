package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// filterConfig is a valid config whose subscriber "s" has the filter
// value given (the text after `filter:`, up to the end of the file); the
// filter's key is on line 9.
func filterConfig(value string) string {
	return minimal + `subscribers:
  s:
    url: http://127.0.0.1:1/s
    secret: ` + whsec + `
    filter: ` + value + "\n"
}

// TestFilterCompileErrors: a filter that does not compile, does not type
// check, is not a bool, is too long or too costly is refused at load with
// the file, the line of its value, its key and CEL's reason on one line.
func TestFilterCompileErrors(t *testing.T) {
	long := `'event.type == "` + strings.Repeat("x", gateway.MaxFilterLength) + `"'`
	list := "[" + strings.TrimSuffix(strings.Repeat("1,", 100), ",") + "]"
	tests := []struct {
		name  string
		value string
		want  string // the whole error line
	}{
		{"string compared to int", `'event.type == 3'`,
			`config.yaml:9: subscribers.s.filter: column 12: found no matching overload for '_==_' applied to '(string, int)'`},
		{"unknown field", `'event.typo == "x"'`,
			`config.yaml:9: subscribers.s.filter: column 6: undefined field 'typo'`},
		{"unknown variable", `'evnt.type == "x"'`,
			`config.yaml:9: subscribers.s.filter: column 1: undeclared reference to 'evnt' (did you mean 'event'?)`},
		{"not a bool", `'event.type'`,
			`config.yaml:9: subscribers.s.filter: must be a bool expression, got string`},
		{"string function given an int", `'event.type.startsWith(1)'`,
			`config.yaml:9: subscribers.s.filter: column 22: found no matching overload for 'startsWith' applied to 'string.(int)'`},
		{"syntax", `'event.type =='`,
			`config.yaml:9: subscribers.s.filter: column 14: Syntax error: mismatched input '<EOF>'`},
		{"several lines, error on the second", "|\n      event.type == \"x\" &&\n        event.subject > 1",
			`config.yaml:9: subscribers.s.filter: line 2, column 17: found no matching overload for '_>_' applied to '(string, int)'`},
		{"too long", long,
			fmt.Sprintf(`config.yaml:9: subscribers.s.filter: expression code point size exceeds limit: size: %d, limit %d`,
				gateway.MaxFilterLength+16, gateway.MaxFilterLength)},
		{"costs over the limit whatever the event", `'` + list + `.map(x, ` + list + `.map(y, y)).size() > 0'`,
			`config.yaml:9: subscribers.s.filter: costs at least 133323 to evaluate, over the limit of 10000`},
		{"not a string", `[event.type]`,
			`config.yaml:9: subscribers.s.filter: must be a string, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errLines(t, filterConfig(tt.value), nil)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestFilterCompileErrorsAll: every bad filter of a file is reported, each
// at its own line.
func TestFilterCompileErrorsAll(t *testing.T) {
	src := minimal + `subscribers:
  a:
    url: http://127.0.0.1:1/a
    secret: ` + whsec + `
    filter: 'event.type == 3'
  b:
    url: http://127.0.0.1:1/b
    secret: ` + whsec + `
    filter: 'event.data.object.is_active == true'
  c:
    url: http://127.0.0.1:1/c
    secret: ` + whsec + `
    filter: "event.typo"
`
	got := errLines(t, src, nil)
	want := []string{
		`config.yaml:9: subscribers.a.filter: column 12: found no matching overload for '_==_' applied to '(string, int)'`,
		`config.yaml:17: subscribers.c.filter: column 6: undefined field 'typo'`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFilterCompiles: filters that check load compiled; a blank one is
// no filter.
func TestFilterCompiles(t *testing.T) {
	tests := []struct {
		value string
		want  bool // compiled: the subscriber has a filter
	}{
		{`'event.data.object.is_active == true && event.type.startsWith("iimmpact.product.")'`, true},
		{`'event.data.object.is_active'`, true}, // dyn: checked when it runs
		{`'event.data.object.price > 10'`, true},
		{`'has(event.data.previous) && event.data.previous.price != event.data.object.price'`, true},
		{`'event.data.object.?is_active.orValue(false)'`, true},
		{`'event.data.object.name.lowerAscii().contains("celcom")'`, true},
		{`'timestamp(event.time) > timestamp("2024-01-01T00:00:00Z")'`, true},
		{`''`, false},
		{`'  '`, false},
		{``, false},
	}
	for _, tt := range tests {
		cfg := mustParse(t, filterConfig(tt.value), nil)
		if got := cfg.Subscribers["s"].CompiledFilter != nil; got != tt.want {
			t.Errorf("filter: %s: compiled %v, want %v", tt.value, got, tt.want)
		}
	}
}

// TestFilterValidateInCode: a Config built in code gets its filter
// compiled (or refused) by Validate, as a loaded one does.
func TestFilterValidateInCode(t *testing.T) {
	cfg := mustParse(t, filterConfig(`'event.type == "x"'`), nil)
	cfg.Path = ""
	sub := cfg.Subscribers["s"]
	sub.Filter, sub.CompiledFilter = "event.type == 3", nil
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "subscribers.s.filter: column 12: found no matching overload") {
		t.Fatalf("Validate: %v, want the filter's type error", err)
	}
	sub.Filter = `event.source == "iimmpact"`
	if err := cfg.Validate(); err != nil || sub.CompiledFilter == nil || sub.CompiledFilter.String() != sub.Filter {
		t.Fatalf("Validate: %v, compiled %v; want the filter compiled", err, sub.CompiledFilter)
	}
}

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

func mustCompile(t testing.TB, expr string) *gateway.Filter {
	t.Helper()
	f, err := gateway.CompileFilter(expr)
	if err != nil {
		t.Fatalf("CompileFilter(%q): %v", expr, err)
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
