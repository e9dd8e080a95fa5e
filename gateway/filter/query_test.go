package filter

import (
	"errors"
	"strings"
	"testing"
)

func TestCompileQueryColumn(t *testing.T) {
	tests := []struct {
		name, expr string
		line, col  int
		msg        string // part of the message
	}{
		{"syntax", `event.type == "a" &&`, 1, 21, "Syntax error"},
		{"unknown field", `event.typo == "a"`, 1, 6, "typo"},
		{"wrong type", `event.type == 3`, 1, 12, "no matching overload"},
		{"second line", "event.type == \"a\" &&\n  evnt.subject == \"b\"", 2, 3, "evnt"},
		{"not bool", `event.type`, 1, 1, "must be a bool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileQuery(tc.expr)
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("CompileQuery(%q) = %v, want a *QueryError", tc.expr, err)
			}
			if qe.Line != tc.line || qe.Column != tc.col || !strings.Contains(qe.Msg, tc.msg) {
				t.Errorf("got line %d column %d %q, want line %d column %d with %q", qe.Line, qe.Column, qe.Msg, tc.line, tc.col, tc.msg)
			}
		})
	}
}

func TestQueryMatch(t *testing.T) {
	body := []byte(`{"specversion":"1.0","id":"evt_1","source":"iimmpact","type":"iimmpact.product.updated",` +
		`"subject":"product/X","time":"2030-01-01T00:00:00Z","datacontenttype":"application/json",` +
		`"data":{"object":{"price":120.5,"name":"X"}}}`)
	tests := []struct {
		expr string
		want bool
	}{
		{`event.data.object.price > 100.0 && event.type.endsWith(".updated")`, true},
		{`event.data.object.price > 100`, true},
		{`event.data.object.price > 200.0`, false},
		{`event.data.object.missing == 1`, false}, // a runtime error is no match
		{`has(event.data.object.missing)`, false},
		{`!has(event.data.object.missing) && event.subject == "product/X"`, true},
		{`event.time.startsWith("2030-")`, true},
	}
	for _, tc := range tests {
		q, err := CompileQuery(tc.expr)
		if err != nil {
			t.Fatalf("CompileQuery(%q): %v", tc.expr, err)
		}
		if got := q.Match(body); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.expr, got, tc.want)
		}
	}
	q, _ := CompileQuery(`event.type != ""`)
	if q.Match([]byte(`not json`)) {
		t.Error("a body that does not decode matched")
	}
}

// BenchmarkQueryMatch is one search evaluation on a stored envelope:
// decode, data as JSON, the expression. A search call runs at most the
// scan budget of them (docs/admin.md, Search with CEL).
func BenchmarkQueryMatch(b *testing.B) {
	body := []byte(`{"specversion":"1.0","id":"evt_1","source":"iimmpact","type":"iimmpact.product.updated",` +
		`"subject":"product/CELCOM10","time":"2030-01-01T00:00:00Z","datacontenttype":"application/json",` +
		`"data":{"object":{"product_code":"CELCOM10","name":"Celcom RM10","price":120.5,"is_active":true,"tags":["prepaid","celcom"]}}}`)
	q, err := CompileQuery(`event.data.object.price > 100.0 && event.type.endsWith(".updated")`)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !q.Match(body) {
			b.Fatal("no match")
		}
	}
}

// FuzzCompileQuery: a search expression is untrusted input from the admin
// API. Whatever it is, compiling neither panics nor places an error
// outside the expression, and a compiled one judges an event without
// panicking.
func FuzzCompileQuery(f *testing.F) {
	for _, s := range []string{
		`event.data.object.price > 100.0 && event.type.endsWith(".updated")`,
		`event.type == "a" &&`, `event.typo == "a"`, `event.type`, "event.type == \"a\" &&\n  evnt.subject == \"b\"",
		`has(event.data.object.x) || event.data.object.tags.exists(t, t.matches("^p"))`,
		`event.data.object.?price.orValue(0.0) > 1.0`, `((((`, `"\u00e9" == event.subject`, ``,
	} {
		f.Add(s)
	}
	body := []byte(`{"id":"evt_1","source":"s","type":"s.product.updated","subject":"product/X","time":"2030-01-01T00:00:00Z",` +
		`"data":{"object":{"price":120.5,"tags":["prepaid"]},"previous":null}}`)
	f.Fuzz(func(t *testing.T, expr string) {
		q, err := CompileQuery(expr)
		if err == nil {
			q.Match(body)
			return
		}
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Fatalf("CompileQuery(%q) = %v, not a *QueryError", expr, err)
		}
		lines := strings.Split(expr, "\n")
		if qe.Line < 1 || qe.Line > len(lines) || qe.Column < 1 || qe.Column > len([]rune(lines[qe.Line-1]))+1 {
			t.Errorf("CompileQuery(%q) placed its error at line %d column %d, outside the expression", expr, qe.Line, qe.Column)
		}
	})
}
