package gateway

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	validParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	validTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	validSpan   = "00f067aa0ba902b7"
)

func TestParseTraceParent(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
		want     string // as AppendTraceParent writes it back
	}{
		{"sampled", validParent, true, validParent},
		{"not sampled", "00-" + validTrace + "-" + validSpan + "-00", true, "00-" + validTrace + "-" + validSpan + "-00"},
		{"unknown flags dropped", "00-" + validTrace + "-" + validSpan + "-ff", true, validParent},
		{"later version", "01-" + validTrace + "-" + validSpan + "-01", true, validParent},
		{"later version, more fields", "cc-" + validTrace + "-" + validSpan + "-01-what-comes", true, validParent},
		{"empty", "", false, ""},
		{"version ff", "ff-" + validTrace + "-" + validSpan + "-01", false, ""},
		{"version 00 with more", validParent + "-x", false, ""},
		{"later version, no dash after", "01-" + validTrace + "-" + validSpan + "-01x", false, ""},
		{"uppercase", strings.ToUpper(validParent), false, ""},
		{"zero trace id", "00-" + strings.Repeat("0", 32) + "-" + validSpan + "-01", false, ""},
		{"zero span id", "00-" + validTrace + "-" + strings.Repeat("0", 16) + "-01", false, ""},
		{"short trace id", "00-" + validTrace[:31] + "-" + validSpan + "-01x", false, ""},
		{"not hex", "00-" + validTrace[:31] + "g-" + validSpan + "-01", false, ""},
		{"bad flags", "00-" + validTrace + "-" + validSpan + "-0x", false, ""},
		{"wrong separators", "00_" + validTrace + "_" + validSpan + "_01", false, ""},
		{"spaces", " " + validParent[1:], false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ok := ParseTraceParent(tc.in)
			if ok != tc.ok {
				t.Fatalf("ParseTraceParent(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			}
			if got := FormatTraceParent(sc); got != tc.want {
				t.Errorf("ParseTraceParent(%q) formats as %q, want %q", tc.in, got, tc.want)
			}
			if ok && !sc.IsRemote() {
				t.Errorf("ParseTraceParent(%q): not marked remote", tc.in)
			}
		})
	}
}

func TestTraceFromHeader(t *testing.T) {
	long := "a=" + strings.Repeat("b", MaxTraceState)
	for _, tc := range []struct {
		name                  string
		parent, state         string
		wantParent, wantState string
	}{
		{"none", "", "", "", ""},
		{"parent only", validParent, "", validParent, ""},
		{"both", validParent, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", validParent, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
		{"malformed parent: state ignored too", "00-zz", "congo=t61rcWkgMzE", "", ""},
		{"state too long", validParent, long, validParent, ""},
		{"state not a tracestate", validParent, "no equals sign", validParent, ""},
		{"state JSON would escape", validParent, `a=<script>`, validParent, ""},
		{"state with a quote", validParent, `a="x`, validParent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.parent != "" {
				h.Set(HeaderTraceParent, tc.parent)
			}
			if tc.state != "" {
				h.Set(HeaderTraceState, tc.state)
			}
			var env Envelope
			env.SetTrace(TraceFromHeader(h))
			if env.TraceParent != tc.wantParent || env.TraceState != tc.wantState {
				t.Errorf("got traceparent %q tracestate %q, want %q %q", env.TraceParent, env.TraceState, tc.wantParent, tc.wantState)
			}
		})
	}
}

// The trace context goes into the stored envelope and comes back off its
// front at delivery; an envelope without one reads as none.
func TestTraceOfBody(t *testing.T) {
	sc := TraceFromHeader(http.Header{
		"Traceparent": {validParent},
		"Tracestate":  {"congo=t61rcWkgMzE"},
	})
	env := NewEnvelope("iimmpact", Event{Identity: "x", Type: "iimmpact.product.updated", Object: []byte(`{"traceparent":"` + validParent + `"}`)},
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	plain, err := EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := TraceOfBody(plain); got.IsValid() {
		t.Errorf("envelope without a trace context: TraceOfBody = %v, want none (data's own traceparent is not the event's)", got)
	}
	env.SetTrace(sc)
	body, err := EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), `{"specversion":"1.0","traceparent":"`+validParent+`","tracestate":"congo=t61rcWkgMzE","id":"evt_`) {
		t.Errorf("envelope = %s, want the trace context right after specversion", body)
	}
	got := TraceOfBody(body)
	if !got.Equal(sc) {
		t.Errorf("TraceOfBody = %v, want %v", got, sc)
	}
	for _, b := range []string{
		`{"specversion":"1.0","traceparent":"` + validParent,             // cut short
		`{"specversion":"1.0","traceparent":"` + validParent + `x","id"`, // longer than a traceparent
		`{"specversion":"1.0","traceparent":"00-` + strings.Repeat("0", 52) + `","id"`,
	} {
		if got := TraceOfBody([]byte(b)); got.IsValid() {
			t.Errorf("TraceOfBody(%q) = %v, want none", b, got)
		}
	}
}

// Tracing off: what ingest and delivery pay for a request without a trace
// context must be nothing.
func TestTraceContextAllocs(t *testing.T) {
	h := headerFunc(func(string) string { return "" }) // as routes' view of the request: no copies
	body := []byte(`{"specversion":"1.0","id":"evt_1","source":"s","type":"t","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"object":null}}`)
	traced := []byte(`{"specversion":"1.0","traceparent":"` + validParent + `","id":"evt_1"}`)
	for name, f := range map[string]func(){
		"TraceFromHeader, none":    func() { TraceFromHeader(h) },
		"TraceOfBody, none":        func() { TraceOfBody(body) },
		"TraceOfBody, traceparent": func() { TraceOfBody(traced) },
		"ParseTraceParent":         func() { ParseTraceParent(validParent) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

type headerFunc func(string) string

func (f headerFunc) Get(name string) string { return f(name) }

// traceParentRE is the W3C traceparent grammar, as a reference for the
// hand-written parser: version (not ff), trace id, parent id, flags; for
// version 00 nothing after, for a later one optionally "-" and more.
var traceParentRE = regexp.MustCompile(`^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$`)

// FuzzTraceContext: ParseTraceParent agrees with the grammar, what it
// accepts formats back to a value it accepts as the same context, and
// what TraceFromHeader keeps of a tracestate rides in an envelope as it
// came and is read back off the stored bytes unchanged.
func FuzzTraceContext(f *testing.F) {
	f.Add(validParent, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
	f.Add("01-"+validTrace+"-"+validSpan+"-09-extra", "a=b")
	f.Add("ff-"+validTrace+"-"+validSpan+"-01", "")
	f.Add("00-"+strings.Repeat("0", 32)+"-"+validSpan+"-01", "x")
	f.Add(validParent, `a="<b>"`)
	f.Fuzz(func(t *testing.T, parent, state string) {
		sc, ok := ParseTraceParent(parent)
		m := traceParentRE.FindStringSubmatch(parent)
		want := m != nil && m[1] != "ff" && m[2] != strings.Repeat("0", 32) && m[3] != strings.Repeat("0", 16) &&
			(m[1] != "00" || m[5] == "")
		if ok != want {
			t.Fatalf("ParseTraceParent(%q) ok = %v, the grammar says %v", parent, ok, want)
		}
		if !ok {
			if sc.IsValid() {
				t.Fatalf("ParseTraceParent(%q) refused but returned a valid context", parent)
			}
			return
		}
		again, ok := ParseTraceParent(FormatTraceParent(sc))
		if !ok || !again.Equal(sc) {
			t.Fatalf("ParseTraceParent(%q) = %v, formatted and parsed again %v", parent, sc, again)
		}
		got := TraceFromHeader(headerFunc(func(name string) string {
			switch name {
			case HeaderTraceParent:
				return parent
			case HeaderTraceState:
				return state
			}
			return ""
		}))
		ts := got.TraceState().String()
		if len(ts) > MaxTraceState || !plainString(ts) {
			t.Fatalf("tracestate %q kept: too long or not plain", ts)
		}
		env := Envelope{SpecVersion: SpecVersion, ID: "evt_1", Source: "s", Type: "t", DataContentType: "application/json",
			Data: Data{Object: jsonNull}}
		env.SetTrace(got)
		body, err := EncodeEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		if back := TraceOfBody(body); !back.Equal(got) {
			t.Fatalf("read back %v, want %v", back, got)
		}
	})
}
