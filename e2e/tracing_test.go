package e2e

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// span is one span as the OTLP receiver got it.
type span struct {
	service             string
	name                string
	traceID, id, parent string // lowercase hex; parent "" for a root
	attrs               map[string]string
	statusCode          int32 // OTLP: 0 unset, 1 ok, 2 error
}

// otlpReceiver is an OTLP/HTTP collector: an httptest server that takes
// POST /v1/traces (protobuf, gzip or not) and keeps every span.
type otlpReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	spans    []span
	problems []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.problems {
			t.Errorf("otlp receiver: %s", p)
		}
	})
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		r.problem("%s %s, want POST /v1/traces", req.Method, req.URL.Path)
		http.NotFound(w, req)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		r.problem("Content-Type %q, want application/x-protobuf", ct)
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.problem("gzip: %v", err)
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		r.problem("read body: %v", err)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		r.problem("decode ExportTraceServiceRequest: %v", err)
		http.Error(w, "bad protobuf", http.StatusBadRequest)
		return
	}
	var got []span
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := span{service: service, name: s.GetName(), traceID: hex.EncodeToString(s.GetTraceId()),
					id: hex.EncodeToString(s.GetSpanId()), parent: hex.EncodeToString(s.GetParentSpanId()),
					attrs: map[string]string{}, statusCode: int32(s.GetStatus().GetCode())}
				for _, kv := range s.GetAttributes() {
					switch v := kv.GetValue().GetValue().(type) {
					case *commonpb.AnyValue_StringValue:
						sp.attrs[kv.GetKey()] = v.StringValue
					case *commonpb.AnyValue_IntValue:
						sp.attrs[kv.GetKey()] = fmt.Sprint(v.IntValue)
					case *commonpb.AnyValue_BoolValue:
						sp.attrs[kv.GetKey()] = fmt.Sprint(v.BoolValue)
					}
				}
				got = append(got, sp)
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (r *otlpReceiver) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// trace is every span received of the trace id.
func (r *otlpReceiver) trace(id string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if s.traceID == id {
			out = append(out, s)
		}
	}
	return out
}

var traceParentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

// parseTraceParent splits a version-00 traceparent, failing the test when
// it is not one.
func parseTraceParent(t *testing.T, what, v string) (traceID, spanID string) {
	t.Helper()
	m := traceParentRE.FindStringSubmatch(v)
	if m == nil || m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
		t.Fatalf("%s: %q is not a valid traceparent", what, v)
	}
	return m[1], m[2]
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// sendTraced posts e to /webhooks/iimmpact, signed, with the given trace
// headers, and fails unless 200.
func (g *gateway) sendTraced(e iimmpactEvent, traceparent, tracestate string) {
	g.t.Helper()
	body := e.body()
	h := http.Header{"X-Webhook-Signature": {signIimmpact(iimmpactSecret, body)}}
	if traceparent != "" {
		h.Set("traceparent", traceparent)
	}
	if tracestate != "" {
		h.Set("tracestate", tracestate)
	}
	code, msg, err := g.post("/webhooks/iimmpact", body, h)
	if err != nil || code != http.StatusOK {
		g.t.Fatalf("POST /webhooks/iimmpact %s: got %d %q (%v), want 200", e.ID, code, msg, err)
	}
}

// bySpanName indexes spans by name; a name seen twice fails the test.
func bySpanName(t *testing.T, spans []span) map[string]span {
	t.Helper()
	m := map[string]span{}
	for _, s := range spans {
		if _, dup := m[s.name]; dup {
			t.Errorf("two %q spans in the trace", s.name)
		}
		m[s.name] = s
	}
	return m
}

// Tracing on (OTEL_EXPORTER_OTLP_ENDPOINT): the provider's trace is
// continued through ingest and delivery. The subscriber gets a traceparent
// of the provider's trace id whose span is the delivery attempt's; the
// envelope carries the ingest span's context and the provider's
// tracestate; the collector gets the ingest span (child of the provider's),
// verify and store under it, and the attempt under it too. A request
// without a traceparent starts a trace of its own, which the subscriber
// joins the same way.
func TestTracingEndToEnd(t *testing.T) {
	t.Parallel()
	recv := newOTLPReceiver(t)
	w := newWorld(t, embedded)
	r := newRecorder(t, "traced", 1)
	w.subscribe("traced", sub{rec: r})
	g := w.gateway()
	g.env = []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.srv.URL,
		"OTEL_BSP_SCHEDULE_DELAY=50", // milliseconds: export soon, the test waits on spans
		"OTEL_SERVICE_NAME=",         // the default: hookgate
	}
	g.start()

	t.Run("continues the provider's trace", func(t *testing.T) {
		providerTrace, providerSpan := randomHex(t, 16), randomHex(t, 8)
		g.sendTraced(product("TRACE1", 1), "00-"+providerTrace+"-"+providerSpan+"-01", "vendor=abc")
		r.waitSubjects(t, []string{"product/TRACE1"}, 30*time.Second)
		got, _ := r.find("iimmpact.product.updated", "product/TRACE1")

		headerTrace, attemptSpan := parseTraceParent(t, "subscriber's traceparent header", got.header.Get("traceparent"))
		if headerTrace != providerTrace {
			t.Errorf("subscriber's traceparent trace id %s, want the provider's %s", headerTrace, providerTrace)
		}
		if ts := got.header.Get("tracestate"); ts != "vendor=abc" {
			t.Errorf("subscriber's tracestate %q, want the provider's vendor=abc", ts)
		}
		envTrace, envSpan := parseTraceParent(t, "envelope traceparent", got.env.TraceParent)
		if envTrace != providerTrace {
			t.Errorf("envelope traceparent trace id %s, want the provider's %s", envTrace, providerTrace)
		}
		if got.env.TraceState != "vendor=abc" {
			t.Errorf("envelope tracestate %q, want vendor=abc", got.env.TraceState)
		}

		var spans map[string]span
		waitFor(t, 30*time.Second, "ingest and delivery spans at the collector", func() (bool, string) {
			spans = bySpanName(t, recv.trace(providerTrace))
			for _, n := range []string{"POST /webhooks/{source}", "verify", "store", "deliver"} {
				if _, ok := spans[n]; !ok {
					return false, fmt.Sprintf("no %q span yet; have %d spans", n, len(spans))
				}
			}
			return true, ""
		})
		ingest := spans["POST /webhooks/{source}"]
		if ingest.parent != providerSpan {
			t.Errorf("ingest span's parent %s, want the provider's span %s", ingest.parent, providerSpan)
		}
		if envSpan != ingest.id {
			t.Errorf("envelope traceparent span %s, want the ingest span %s", envSpan, ingest.id)
		}
		for _, n := range []string{"verify", "store", "deliver"} {
			if spans[n].parent != ingest.id {
				t.Errorf("%s span's parent %s, want the ingest span %s", n, spans[n].parent, ingest.id)
			}
		}
		deliver := spans["deliver"]
		if deliver.id != attemptSpan {
			t.Errorf("subscriber's traceparent span %s, want the attempt's span %s", attemptSpan, deliver.id)
		}
		for _, c := range []struct {
			s         span
			key, want string
		}{
			{ingest, "http.response.status_code", "200"},
			{ingest, "hookgate.source", "iimmpact"},
			{ingest, "hookgate.events.stored", "1"},
			{deliver, "hookgate.subscriber", "traced"},
			{deliver, "hookgate.event.id", got.env.ID},
			{deliver, "hookgate.attempt", "1"},
			{deliver, "http.response.status_code", "200"},
			{deliver, "hookgate.outcome", "delivered"},
		} {
			if v := c.s.attrs[c.key]; v != c.want {
				t.Errorf("%s span: %s = %q, want %q", c.s.name, c.key, v, c.want)
			}
		}
		if ingest.service != "hookgate" {
			t.Errorf("service.name %q, want hookgate", ingest.service)
		}
		t.Logf("provider traceparent 00-%s-%s-01", providerTrace, providerSpan)
		for _, n := range []string{"POST /webhooks/{source}", "verify", "store", "deliver"} {
			t.Logf("span %-24q trace %s id %s parent %s", n, spans[n].traceID, spans[n].id, spans[n].parent)
		}
		t.Logf("envelope traceparent %s; subscriber's header traceparent %s", got.env.TraceParent, got.header.Get("traceparent"))
	})

	t.Run("starts a trace when the provider sent none", func(t *testing.T) {
		g.sendTraced(product("TRACE2", 2), "", "")
		r.waitSubjects(t, []string{"product/TRACE2"}, 30*time.Second)
		got, _ := r.find("iimmpact.product.updated", "product/TRACE2")
		envTrace, envSpan := parseTraceParent(t, "envelope traceparent", got.env.TraceParent)
		headerTrace, attemptSpan := parseTraceParent(t, "subscriber's traceparent header", got.header.Get("traceparent"))
		if headerTrace != envTrace {
			t.Errorf("subscriber's trace id %s, want the envelope's %s", headerTrace, envTrace)
		}
		var spans map[string]span
		waitFor(t, 30*time.Second, "ingest and delivery spans at the collector", func() (bool, string) {
			spans = bySpanName(t, recv.trace(envTrace))
			_, a := spans["POST /webhooks/{source}"]
			_, b := spans["deliver"]
			return a && b, fmt.Sprintf("have %d spans", len(spans))
		})
		ingest := spans["POST /webhooks/{source}"]
		if ingest.parent != "" || ingest.id != envSpan {
			t.Errorf("ingest span %s (parent %q), want a root whose id the envelope carries (%s)", ingest.id, ingest.parent, envSpan)
		}
		if d := spans["deliver"]; d.parent != ingest.id || d.id != attemptSpan {
			t.Errorf("deliver span %s parent %s, want %s under %s", d.id, d.parent, attemptSpan, ingest.id)
		}
	})

	// The exports are counted; none failed, none was dropped.
	waitFor(t, 30*time.Second, "exported spans counted", func() (bool, string) {
		text := g.metricsText(t)
		ok := regexp.MustCompile(`(?m)^hookgate_trace_spans_total\{result="exported"\} [1-9]`).MatchString(text) &&
			strings.Contains(text, `hookgate_trace_spans_total{result="dropped"} 0`+"\n") &&
			strings.Contains(text, `hookgate_trace_spans_total{result="failed"} 0`+"\n")
		return ok, "hookgate_trace_spans_total not yet as expected"
	})

	// A graceful stop flushes what is queued; the collector was there
	// throughout, so nothing was lost.
	g.stop()
	for _, want := range []string{`"msg":"tracing stopped"`, `"spans_failed":0`, `"spans_dropped":0`} {
		if !strings.Contains(g.output(), want) {
			t.Errorf("no %s in the log after the stop", want)
		}
	}
}

// Tracing off (no OTEL_* set): nothing is exported, but a provider's valid
// traceparent still rides in the envelope, and each attempt is sent as a
// child of it; without one (or with a malformed one, never stored) the
// event carries a new, unsampled trace of its own (SPEC 4).
func TestTraceparentWithoutTracing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testTraceparentWithoutTracing)
}

// testTraceparentWithoutTracing: both stores keep the envelope's trace
// context as they keep the rest of it.
func testTraceparentWithoutTracing(t *testing.T, b backend) {
	w := newWorld(t, b)
	r := newRecorder(t, "plain", 1)
	w.subscribe("plain", sub{rec: r})
	g := w.start()

	parent := "00-" + randomHex(t, 16) + "-" + randomHex(t, 8) + "-01"
	g.sendTraced(product("OFF1", 1), parent, "")
	g.sendTraced(product("OFF2", 2), "00-"+strings.Repeat("0", 32)+"-"+randomHex(t, 8)+"-01", "a=b") // all-zero trace id
	g.sendTraced(product("OFF3", 3), "", "")
	r.waitSubjects(t, []string{"product/OFF1", "product/OFF2", "product/OFF3"}, 30*time.Second)
	sent, _ := parseTraceparent(parent)
	traces := map[string]string{}
	for _, subject := range []string{"product/OFF1", "product/OFF2", "product/OFF3"} {
		got, _ := r.find("iimmpact.product.updated", subject)
		env, ok := parseTraceparent(got.env.TraceParent)
		hdr, hok := parseTraceparent(got.header.Get("traceparent"))
		if !ok || !hok || hdr.traceID != env.traceID || hdr.spanID == env.spanID || hdr.flags != env.flags {
			t.Errorf("%s: envelope traceparent %q, header %q; want valid ones of one trace, the header's a child",
				subject, got.env.TraceParent, got.header.Get("traceparent"))
		}
		if subject == "product/OFF1" {
			if got.env.TraceParent != parent {
				t.Errorf("%s: envelope traceparent %q, want the provider's %q", subject, got.env.TraceParent, parent)
			}
		} else if env.flags != "00" || env.traceID == sent.traceID {
			t.Errorf("%s: envelope traceparent %q; want a new, unsampled trace", subject, got.env.TraceParent)
		}
		if other, seen := traces[env.traceID]; seen {
			t.Errorf("%s and %s share trace %s", subject, other, env.traceID)
		}
		traces[env.traceID] = subject
		if got.env.TraceState != "" || got.header.Get("tracestate") != "" {
			t.Errorf("%s: tracestate %q / %q, want none", subject, got.env.TraceState, got.header.Get("tracestate"))
		}
	}
}

// traceparent is a version-00 W3C traceparent's parts, lowercase hex.
type traceparent struct{ traceID, spanID, flags string }

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

// parseTraceparent splits s, false unless it is a valid version-00 value
// (ids not all zero).
func parseTraceparent(s string) (traceparent, bool) {
	m := traceparentRE.FindStringSubmatch(s)
	if m == nil || strings.Trim(m[1], "0") == "" || strings.Trim(m[2], "0") == "" {
		return traceparent{}, false
	}
	return traceparent{m[1], m[2], m[3]}, true
}

// An OTEL_* setting hookgate cannot honour: serve exits non-zero at once
// with one line naming the variable and its value.
func TestTracingBadEnv(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ env, want string }{
		{"OTEL_TRACES_EXPORTER=bogus", `OTEL_TRACES_EXPORTER="bogus"`},
		{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", `OTEL_EXPORTER_OTLP_PROTOCOL="grpc"`},
	} {
		t.Run(c.env, func(t *testing.T) {
			w := newWorld(t, embedded)
			g := w.gateway()
			g.env = []string{c.env, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1"}
			g.launch()
			select {
			case <-g.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("serve with %s: still running after 20s, want an exit", c.env)
			}
			done, err := g.exited()
			if !done || err == nil {
				t.Fatalf("serve with %s: exit %v, want non-zero", c.env, err)
			}
			out := strings.TrimSpace(g.output())
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, c.want) {
				t.Errorf("serve with %s: output %q, want one line naming %s", c.env, out, c.want)
			}
		})
	}
}

// A collector that takes the connection and never answers: ingest and
// delivery go on as if tracing were off, and a graceful stop still exits 0,
// its flush cut off at its bound, the spans it could not send logged as
// lost.
func TestTracingCollectorHangs(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(release)
		hung.Close()
	})
	w := newWorld(t, embedded)
	r := newRecorder(t, "hung", 1)
	w.subscribe("hung", sub{rec: r})
	g := w.gateway()
	g.env = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + hung.URL, "OTEL_BSP_SCHEDULE_DELAY=10"}
	g.start()

	var subjects []string
	for i := range 20 {
		e := product(fmt.Sprintf("HUNG%d", i), i)
		g.sendTraced(e, "", "")
		subjects = append(subjects, "product/"+e.ID)
	}
	r.waitSubjects(t, subjects, 30*time.Second)
	g.stop() // exit 0 within the harness's 30s, or it fails
	out := g.output()
	line := regexp.MustCompile(`(?m)^.*"msg":"tracing stopped".*$`).FindString(out)
	if line == "" || !strings.Contains(line, `"spans_exported":0`) {
		t.Errorf("want a tracing stopped line with no span exported; output:\n%s", tail(out, 10))
	}
	t.Logf("%s", line)
}
