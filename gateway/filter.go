package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Filter is a compiled subscriber filter (SubscriberConfig.Filter): an
// expression over the envelope as `event` that a subscriber's events must
// pass to be delivered. Package gateway/filter compiles them (CEL); config
// validation fills SubscriberConfig.CompiledFilter with one. A Filter is
// safe for concurrent use.
type Filter interface {
	// Match reports whether the event in in passes. An evaluation error
	// (a missing field, a wrong type, a cost limit) or a result that is
	// not a bool returns false and the error; the caller counts it.
	Match(in *FilterInput) (bool, error)
	// String returns the expression as configured.
	String() string
}

var (
	filterCompilerMu sync.RWMutex
	filterCompiler   func(expr string) (Filter, error)
)

// RegisterFilterCompiler makes compile the compiler of filter expressions
// for a Config built in code and never validated (the Ingester compiles
// its filters with it). Package gateway/filter registers itself in its
// init, and every program that loads a config links it; a second
// registration panics, as RegisterProvider's does.
func RegisterFilterCompiler(compile func(expr string) (Filter, error)) {
	filterCompilerMu.Lock()
	defer filterCompilerMu.Unlock()
	if compile == nil {
		panic("gateway: RegisterFilterCompiler with nil compiler")
	}
	if filterCompiler != nil {
		panic("gateway: RegisterFilterCompiler called twice")
	}
	filterCompiler = compile
}

// compileFilter compiles expr with the registered compiler.
func compileFilter(expr string) (Filter, error) {
	filterCompilerMu.RLock()
	compile := filterCompiler
	filterCompilerMu.RUnlock()
	if compile == nil {
		return nil, errors.New("no filter compiler (import github.com/hookgate/hookgate/gateway/filter)")
	}
	return compile(expr)
}

// FilterInput is one envelope as filters see it. Build one per event and
// pass it to each filter of that event: its time is rendered and its data
// decoded from JSON at most once, and the data only if a filter reads it.
// Not safe for concurrent use.
type FilterInput struct {
	env     Envelope
	time    string // env.Time as the envelope's JSON renders it; set by Time
	decoded bool   // data holds the data, or dataErr why not
	data    map[string]any
	dataErr error // the data is not JSON (a provider bug)
}

// NewFilterInput prepares env for filters; it does no work until a filter
// runs.
func NewFilterInput(env Envelope) *FilterInput { return &FilterInput{env: env} }

// Envelope returns the event, for filters to read and not to change.
func (in *FilterInput) Envelope() *Envelope { return &in.env }

// Time returns the envelope's time as subscribers receive it (RFC 3339,
// as the envelope's JSON renders it).
func (in *FilterInput) Time() string {
	if in.time == "" {
		in.time = in.env.Time.Format(time.RFC3339Nano)
	}
	return in.time
}

// Data returns the envelope's data as generic JSON values, as the
// subscriber will read it: object always (null when there is none),
// previous only where the provider gives one. With decode, the data is
// decoded if no earlier call did; without it, nothing is decoded. The
// error is that of the decode, once one was tried: a filter of the event
// that runs after a failed decode fails with it too.
func (in *FilterInput) Data(decode bool) (map[string]any, error) {
	if decode && !in.decoded {
		in.decoded = true
		in.data, in.dataErr = decodeData(in.env.Data)
	}
	return in.data, in.dataErr
}

// decodeData is the envelope's data as generic JSON values (Data).
func decodeData(d Data) (map[string]any, error) {
	out := make(map[string]any, 2)
	obj, err := decodeJSONValue(d.Object)
	if err != nil {
		return nil, fmt.Errorf("decode data.object: %w", err)
	}
	out["object"] = obj
	if len(d.Previous) > 0 {
		prev, err := decodeJSONValue(d.Previous)
		if err != nil {
			return nil, fmt.Errorf("decode data.previous: %w", err)
		}
		out["previous"] = prev
	}
	return out, nil
}

// decodeJSONValue decodes raw (nil when empty) as generic JSON values. A
// number beyond a double's range (1e400, valid JSON) is ±Inf, as
// strconv.ParseFloat rounds it, rather than an error: encoding/json
// refuses it, which failed every filter that read data, even one that
// never looked at that field, and left the event unrouted. A filter that
// compares it sees infinity: `price > 10` is true of 1e400.
func decodeJSONValue(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v any
	err := json.Unmarshal(raw, &v)
	var typeErr *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &typeErr) || !strings.HasPrefix(typeErr.Value, "number") {
		return v, err
	}
	// Rare: decode again keeping numbers as written, then round them.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v = nil
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return roundNumbers(v), nil
}

// roundNumbers replaces each json.Number in v by its nearest float64,
// ±Inf past the range.
func roundNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64) // ±Inf with ErrRange: what we want
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = roundNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = roundNumbers(e)
		}
	}
	return v
}
