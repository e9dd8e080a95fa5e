package gateway

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the headers a
// provider may send, and that every delivery attempt sends, so that a
// subscriber's trace joins the provider's.
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// traceParentLen is the length of a version-00 traceparent:
// "00-" 32 hex "-" 16 hex "-" 2 hex.
const traceParentLen = 55

// MaxTraceState bounds the tracestate an event keeps, in bytes: the W3C
// limit that vendors must propagate (32 members of up to 256 bytes could
// be more; a longer one is dropped whole, which the spec allows).
const MaxTraceState = 512

// ParseTraceParent returns the span context of a W3C traceparent value,
// marked remote, or false when s is not a valid one: a version other than
// ff, lowercase hex ids that are not all zero, and exactly 55 characters
// for version 00 (a later version may append fields after a '-', which
// are ignored). Only the sampled flag is kept, as the OpenTelemetry
// propagator does. It does not allocate.
func ParseTraceParent(s string) (trace.SpanContext, bool) { return parseTraceParent(s) }

// parseTraceParent is ParseTraceParent for a string or the bytes of a
// stored envelope, which a conversion to string would copy.
func parseTraceParent[T string | []byte](s T) (trace.SpanContext, bool) {
	if len(s) < traceParentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}, false
	}
	ver, ok := hexByte(s[0], s[1])
	if !ok || ver == 0xff || (ver == 0 && len(s) != traceParentLen) ||
		(len(s) > traceParentLen && s[traceParentLen] != '-') {
		return trace.SpanContext{}, false
	}
	var tid trace.TraceID
	var sid trace.SpanID
	if !hexInto(tid[:], s[3:35]) || !hexInto(sid[:], s[36:52]) || !tid.IsValid() || !sid.IsValid() {
		return trace.SpanContext{}, false
	}
	flags, ok := hexByte(s[53], s[54])
	if !ok {
		return trace.SpanContext{}, false
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: trace.TraceFlags(flags) & trace.FlagsSampled,
		Remote:     true,
	}), true
}

// TraceFromHeader is the W3C trace context of a provider's request, or the
// zero (invalid) span context when it sent none or a malformed one: a bad
// traceparent is ignored, never stored, and so is the tracestate beside
// it. A tracestate is kept only beside a valid traceparent, and only when
// it is valid, at most MaxTraceState bytes, and free of characters JSON
// would escape ('"', '\\', '<', '>', '&'), so that it rides in the
// envelope as it came. The result holds no reference to h's values.
func TraceFromHeader(h Header) trace.SpanContext {
	sc, ok := ParseTraceParent(h.Get(HeaderTraceParent))
	if !ok {
		return trace.SpanContext{}
	}
	if ts := h.Get(HeaderTraceState); ts != "" {
		sc = withTraceState(sc, strings.Clone(ts)) // h's values may be views of a reused buffer
	}
	return sc
}

// withTraceState returns sc with the tracestate ts when ts is one an event
// may carry (see TraceFromHeader), else sc unchanged.
func withTraceState(sc trace.SpanContext, ts string) trace.SpanContext {
	if len(ts) > MaxTraceState || !plainString(ts) {
		return sc
	}
	state, err := trace.ParseTraceState(ts)
	if err != nil {
		return sc
	}
	return sc.WithTraceState(state)
}

// AppendTraceParent appends sc as a version-00 traceparent value.
func AppendTraceParent(b []byte, sc trace.SpanContext) []byte {
	tid, sid := sc.TraceID(), sc.SpanID()
	b = append(b, "00-"...)
	b = appendHex(b, tid[:])
	b = append(b, '-')
	b = appendHex(b, sid[:])
	b = append(b, '-')
	return appendHex(b, []byte{byte(sc.TraceFlags() & trace.FlagsSampled)})
}

// FormatTraceParent is sc as a version-00 traceparent value, "" when sc
// is not valid.
func FormatTraceParent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	var buf [traceParentLen]byte
	return string(AppendTraceParent(buf[:0], sc))
}

// SetTrace makes env carry sc as the CloudEvents distributed-tracing
// extension: traceparent, and tracestate when sc has one. An invalid sc
// leaves both empty (and out of the document).
func (env *Envelope) SetTrace(sc trace.SpanContext) {
	env.TraceParent = FormatTraceParent(sc)
	env.TraceState = ""
	if env.TraceParent != "" && sc.TraceState().Len() > 0 {
		env.TraceState = sc.TraceState().String()
	}
}

// Trace is the span context env carries (remote), or the zero span
// context when it carries none or a malformed one.
func (env *Envelope) Trace() trace.SpanContext {
	sc, ok := ParseTraceParent(env.TraceParent)
	if !ok {
		return trace.SpanContext{}
	}
	if env.TraceState != "" {
		sc = withTraceState(sc, env.TraceState)
	}
	return sc
}

// The stored envelope begins with its trace context when it has one: the
// extension attributes come right after specversion (see Envelope), so
// that delivery reads them off the front of the stored bytes without
// parsing the document.
var (
	traceParentPrefix = []byte(`{"specversion":"` + SpecVersion + `","traceparent":"`)
	traceStateKey     = []byte(`","tracestate":"`)
)

// TraceOfBody is the span context a stored envelope body carries (remote),
// or the zero span context when it carries none. It reads only the front
// of the document; when there is no trace context it costs one prefix
// comparison and never allocates.
func TraceOfBody(body []byte) trace.SpanContext {
	rest, ok := bytes.CutPrefix(body, traceParentPrefix)
	if !ok || len(rest) <= traceParentLen || rest[traceParentLen] != '"' {
		return trace.SpanContext{}
	}
	sc, ok := parseTraceParent(rest[:traceParentLen])
	if !ok {
		return trace.SpanContext{}
	}
	if rest, ok = bytes.CutPrefix(rest[traceParentLen:], traceStateKey); ok {
		if end := bytes.IndexByte(rest, '"'); end > 0 {
			sc = withTraceState(sc, string(rest[:end]))
		}
	}
	return sc
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false // uppercase is not valid in a traceparent
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := hexVal(hi)
	l, ok2 := hexVal(lo)
	return h<<4 | l, ok1 && ok2
}

// hexInto decodes the lowercase hex s into dst, len(s) == 2*len(dst).
func hexInto[T string | []byte](dst []byte, s T) bool {
	for i := range dst {
		b, ok := hexByte(s[2*i], s[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func appendHex(b, src []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range src {
		b = append(b, digits[c>>4], digits[c&0x0f])
	}
	return b
}

// NewTrace is the context of a new trace that nothing records: random
// trace and span ids, not sampled. An event whose provider sent no trace
// context gets one at ingest, so that each attempt's traceparent names a
// trace of its own with tracing off too (SPEC 4).
func NewTrace() trace.SpanContext {
	return ChildSpan(trace.NewSpanContext(trace.SpanContextConfig{TraceID: randomTraceID()}))
}

// ChildSpan is sc with a new random span id: the context of a span under
// sc's that nothing records, as each attempt is with tracing off. The
// trace id, sampled flag and tracestate stay as they are.
func ChildSpan(sc trace.SpanContext) trace.SpanContext {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.BigEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sc.WithSpanID(sid)
}

// randomTraceID is a trace id from math/rand/v2's generator, as the
// OpenTelemetry SDK's own are: ids must be unique, not secret.
func randomTraceID() trace.TraceID {
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid
}
