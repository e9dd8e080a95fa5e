package telemetry

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP receiver for the exporter's tests: it decodes
// each request with the official message types, answering the codes of
// script first (then 200).
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	script   []int
	requests int
	headers  []http.Header
	got      []*coltracepb.ExportTraceServiceRequest
	problems []string
}

func newCollector(t *testing.T, script ...int) *collector {
	c := &collector{script: script}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.requests++
		c.headers = append(c.headers, r.Header.Clone())
		if len(c.script) > 0 {
			code := c.script[0]
			c.script = c.script[1:]
			w.WriteHeader(code)
			return
		}
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			c.problems = append(c.problems, r.URL.Path+" "+r.Header.Get("Content-Type"))
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				c.problems = append(c.problems, err.Error())
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			c.problems = append(c.problems, "decode: "+err.Error())
		}
		c.got = append(c.got, &req)
	}))
	t.Cleanup(func() {
		c.Close()
		for _, p := range c.problems {
			t.Errorf("collector: %s", p)
		}
	})
	return c
}

func (c *collector) spans() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, req := range c.got {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				out = append(out, ss.GetSpans()...)
			}
		}
	}
	return out
}

// Spans reach an OTLP receiver as the official message types decode them:
// ids, parent and its remote flag, kind, attributes of each type, status,
// events; the resource's service.name; the configured headers, gzip; a
// 503 is retried.
func TestOTLPExport(t *testing.T) {
	c := newCollector(t, http.StatusServiceUnavailable)
	t.Setenv("OTEL_SERVICE_NAME", "hg-test") // the SDK's resource reads the process's environment
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tr, err := FromEnv(env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    c.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":     "x-api-key=s%20ecret,x-team=obs",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
	}), "v1.2.3", log)
	if err != nil {
		t.Fatal(err)
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, span := tr.Tracer().Start(ctx, "deliver", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("s", "x"), attribute.Int("i", 7), attribute.Bool("b", true), attribute.Float64("f", 1.5),
		attribute.StringSlice("ss", []string{"a", "b"})))
	span.AddEvent("retry", trace.WithAttributes(attribute.Int("n", 2)))
	span.SetStatus(codes.Error, "HTTP 503")
	span.End()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	spans := c.spans()
	if len(spans) != 1 {
		t.Fatalf("collector got %d spans, want 1", len(spans))
	}
	s := spans[0]
	tid, psid := parent.TraceID(), parent.SpanID()
	if hex.EncodeToString(s.TraceId) != hex.EncodeToString(tid[:]) || hex.EncodeToString(s.ParentSpanId) != hex.EncodeToString(psid[:]) {
		t.Errorf("trace %x parent %x, want %x %x", s.TraceId, s.ParentSpanId, tid, psid)
	}
	if s.Flags&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) == 0 || s.Flags&0xff != 1 {
		t.Errorf("flags %#x, want sampled and a remote parent", s.Flags)
	}
	if s.Name != "deliver" || s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("name %q kind %v, want deliver, client", s.Name, s.Kind)
	}
	if findAttr(s, "s").GetStringValue() != "x" || findAttr(s, "i").GetIntValue() != 7 ||
		!findAttr(s, "b").GetBoolValue() || findAttr(s, "f").GetDoubleValue() != 1.5 {
		t.Errorf("attributes %v, want s=x i=7 b=true f=1.5", s.Attributes)
	}
	if vs := findAttr(s, "ss").GetArrayValue().GetValues(); len(vs) != 2 || vs[1].GetStringValue() != "b" {
		t.Errorf("attribute ss = %v, want [a b]", vs)
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() != "HTTP 503" {
		t.Errorf("status %v, want error HTTP 503", s.Status)
	}
	if len(s.Events) != 1 || s.Events[0].Name != "retry" {
		t.Errorf("events %v, want one, retry", s.Events)
	}
	if s.StartTimeUnixNano == 0 || s.EndTimeUnixNano < s.StartTimeUnixNano {
		t.Errorf("times %d..%d", s.StartTimeUnixNano, s.EndTimeUnixNano)
	}
	res := c.got[0].ResourceSpans[0]
	service, version := "", ""
	for _, kv := range res.Resource.Attributes {
		switch kv.Key {
		case "service.name":
			service = kv.Value.GetStringValue()
		case "service.version":
			version = kv.Value.GetStringValue()
		}
	}
	if service != "hg-test" || version != "v1.2.3" {
		t.Errorf("resource service %q version %q, want hg-test v1.2.3", service, version)
	}
	if res.ScopeSpans[0].Scope.Name != ScopeName {
		t.Errorf("scope %q, want %q", res.ScopeSpans[0].Scope.Name, ScopeName)
	}
	if c.requests != 2 {
		t.Errorf("collector got %d requests, want 2 (a 503, then the retry)", c.requests)
	}
	h := c.headers[len(c.headers)-1]
	if h.Get("X-Api-Key") != "s ecret" || h.Get("X-Team") != "obs" || h.Get("Content-Encoding") != "gzip" {
		t.Errorf("headers %v, want the configured ones and gzip", h)
	}
	if st := tr.Stats(); st.Exported != 1 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 1 exported", st)
	}
}

func findAttr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

func TestOTLPConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x"}, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="ftp://x"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, `OTEL_EXPORTER_OTLP_TIMEOUT="10s"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="zstd"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, `OTEL_EXPORTER_OTLP_HEADERS`},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, `OTEL_EXPORTER_OTLP_CERTIFICATE="/nonexistent/ca.pem"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/x.pem"}, `set both or neither`},
	} {
		tc.env["OTEL_TRACES_EXPORTER"] = "otlp"
		_, err := FromEnv(env(tc.env), "test", nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got error %v, want one line containing %s", tc.env, err, tc.want)
		}
	}
}
