package gateway

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// envelopeCases are envelopes on both sides of every fast-path condition.
func envelopeCases() []Envelope {
	t := time.Date(2026, 12, 1, 8, 0, 0, 123456789, time.UTC)
	base := func(obj, prev string) Envelope {
		env := Envelope{SpecVersion: SpecVersion, ID: "evt_0123", Source: "iimmpact", Type: "iimmpact.product.updated",
			Subject: "product/CELCOM10", Time: t, DataContentType: "application/json",
			Data: Data{Object: json.RawMessage(obj)}}
		if prev != "" {
			env.Data.Previous = json.RawMessage(prev)
		}
		return env
	}
	noSubject := base(`{"a":1}`, "")
	noSubject.Subject = ""
	odd := base(`{"a":1}`, "")
	odd.Subject = `product/"quoted"<&>`
	unicode := base(`{"a":1}`, "")
	unicode.Subject = "product/café"
	control := base(`{"a":1}`, "")
	control.Type = "a\tb"
	farFuture := base(`{"a":1}`, "")
	farFuture.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	whole := base(`{"a":1}`, "")
	whole.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	empty := base("", "")
	dayAhead := base(`{"a":1}`, "")
	dayAhead.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 24*3600)) // json.Marshal refuses the offset
	traced := base(`{"a":1}`, "")
	traced.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced.TraceState = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
	tracedOdd := traced
	tracedOdd.TraceState = `a=<b>` // not carried by SetTrace, but encoded as json.Marshal would
	return []Envelope{
		base(`{"code":"CELCOM10","name":"Celcom RM10","price":10.5,"tags":["a","b"],"nested":{"x":null,"y":true}}`, ""),
		base(`{"a":1}`, `{"a":0}`),
		base(`null`, ""),
		base(`{"s":"with \"escaped\" quotes and \\ backslash \u003c"}`, ""),
		base(`{"s":"spaces inside strings are kept"}`, ""),
		base(`{ "a" : 1 }`, ""),             // compacted by json.Marshal
		base("{\n\t\"a\": [1, 2]\r\n}", ""), // likewise
		base(`{"html":"<b>&</b>"}`, ""),     // escaped by json.Marshal
		base("{\"ls\":\"a\u2028b\u2029c\"}", ""),
		base(`{"u":"ünïcødé ✓"}`, ""),
		base(`[1,2,3]`, `"a string"`),
		noSubject, odd, unicode, control, farFuture, whole, empty, dayAhead, traced, tracedOdd,
		// Invalid JSON, which json.Marshal refuses: a provider bug must
		// not reach the store as a body no subscriber can parse.
		base(`{"a":`, ""),
		base(`{"a":1}}`, ""),
		base(`{"a":1}{"b":2}`, ""),
		base(`tru`, ""),
		base(`01`, ""),
		base(`[1,]`, ""),
		base(`{"a":1,}`, ""),
		base(`{"a" 1}`, ""),
		base(`{1:2}`, ""),
		base(`"\x"`, ""),
		base(`"\u12"`, ""),
		base("\"a\tb\"", ""), // a raw tab inside a string
		base(`-`, ""),
		base(`1.`, ""),
		base(`1e`, ""),
		base(`{"a":1}`, `{"b":`),
		base(`{"a":1}`, `}`),
		base(strings.Repeat("[", 150)+strings.Repeat("]", 150), ""), // deeper than plainJSON follows
	}
}

func TestEncodeEnvelopeIsJSONMarshal(t *testing.T) {
	for i, env := range envelopeCases() {
		want, wantErr := json.Marshal(env)
		got, err := EncodeEnvelope(env)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("case %d: EncodeEnvelope =\n%s (%v)\nwant json.Marshal's\n%s (%v)", i, got, err, want, wantErr)
		}
	}
}

// The cases the fast path must take, or it saves nothing.
func TestEncodeEnvelopeFastPath(t *testing.T) {
	for i, env := range envelopeCases()[:5] {
		if _, ok := appendEnvelope(nil, env); !ok {
			t.Errorf("case %d: took json.Marshal's way, want the direct one", i)
		}
	}
}

func FuzzEncodeEnvelope(f *testing.F) {
	for _, env := range envelopeCases() {
		f.Add(env.Subject, env.TraceState, []byte(env.Data.Object), []byte(env.Data.Previous))
	}
	// The providers' captured payloads: real data shapes.
	files, _ := filepath.Glob("../plugins/*/testdata/*/*.json")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && json.Valid(b) {
			f.Add("product/x", "", b, []byte(nil))
		}
	}
	f.Fuzz(func(t *testing.T, subject, tracestate string, obj, prev []byte) {
		// Invalid JSON included: json.Marshal refuses it, and so must
		// EncodeEnvelope, whatever a provider hands over.
		env := Envelope{SpecVersion: SpecVersion, ID: "evt_1", Source: "s", Type: "s.thing.done", Subject: subject,
			Time: time.Unix(1700000000, 5).UTC(), DataContentType: "application/json",
			Data: Data{Object: obj, Previous: prev}}
		if tracestate != "" {
			env.TraceParent, env.TraceState = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate
		}
		want, wantErr := json.Marshal(env)
		got, err := EncodeEnvelope(env)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("EncodeEnvelope =\n%q (%v)\nwant\n%q (%v)", got, err, want, wantErr)
		}
		// What delivery reads off the front is what the envelope carries,
		// whenever it is a trace context an event may carry.
		if err == nil && tracestate != "" {
			got := TraceOfBody(got)
			if want := env.Trace(); !got.Equal(want) {
				t.Fatalf("TraceOfBody = %v, want %v", got, want)
			}
		}
	})
}

func BenchmarkEncodeEnvelope(b *testing.B) {
	env := envelopeCases()[0]
	b.Run("EncodeEnvelope", func(b *testing.B) {
		for b.Loop() {
			if _, err := EncodeEnvelope(env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(env); err != nil {
				b.Fatal(err)
			}
		}
	})
}
