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

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Bounds of a subscriber filter (SPEC 5, filter). A filter runs on the
// ingest path, once per routed event, before the provider gets its 200:
// these keep one expression from stalling ingest or the config load.
const (
	// FilterCostLimit is the most CEL cost units one evaluation may spend
	// (about one per operation; string and list operations by their size):
	// a typical filter spends under 20, a scan of a 1000-item list about
	// 6000. Past it the evaluation stops with an error, which counts as
	// false. An expression whose least possible cost is over it is refused
	// when the config loads.
	FilterCostLimit = 10000
	// MaxFilterLength is the longest filter accepted, in characters.
	MaxFilterLength = 4096
	// maxFilterNesting bounds how deeply an expression may nest.
	maxFilterNesting = 64
	// maxFilterRegex bounds the program of a regular expression that
	// matches() builds, including one built from event data.
	maxFilterRegex = 1000
	// maxFilterErrors is how many of CEL's errors a config error quotes.
	maxFilterErrors = 3
)

// filterTypeName is what CEL calls the type of `event` in its messages.
const filterTypeName = "hookgate.Event"

// filterEvent is `event` in a filter: the envelope with its time as the
// string subscribers receive and its data decoded from JSON. Declaring it
// as an object with fixed fields (rather than a map) lets the type
// checker refuse `event.typo` and `event.type == 3` at load.
type filterEvent struct {
	Type    string         `cel:"type"`
	Subject string         `cel:"subject"`
	Source  string         `cel:"source"`
	ID      string         `cel:"id"`
	Time    string         `cel:"time"`
	Data    map[string]any `cel:"data"`
}

// filterEnv is the one CEL environment every filter compiles in; a cel.Env
// is safe for concurrent use, and building one costs more than a compile.
var filterEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(types.ParseStructTags(true),
			cel.NativeTypeFor[filterEvent](cel.NativeTypeAlias(filterTypeName))),
		cel.Variable("event", cel.ObjectType(filterTypeName)),
		ext.Strings(),
		cel.OptionalTypes(),
		// JSON numbers are doubles: let `price > 10` mean what it says.
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxFilterLength),
		cel.ParserRecursionLimit(maxFilterNesting),
		cel.RegexProgramSizeLimit(maxFilterRegex),
	)
})

// Filter is a compiled subscriber filter: a CEL expression over the
// envelope as `event`, which a subscriber's events must pass to be
// delivered. It is safe for concurrent use.
type Filter struct {
	expr string
	prg  cel.Program
	// data: the expression may read event.data, so the envelope's data
	// must be decoded from JSON before it runs; most filters on type,
	// subject or source never pay for that.
	data bool
}

// CompileFilter parses and type-checks expr, which must be a bool (or dyn)
// expression over `event`. Its error is one line: CEL's message(s), each
// placed by column (and line, for an expression over several lines).
func CompileFilter(expr string) (*Filter, error) {
	env, err := filterEnv()
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, filterCompileError(expr, iss.Errors())
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("must be a bool expression, got %s", t)
	}
	est, err := env.EstimateCost(ast, noSizes{})
	if err != nil {
		return nil, fmt.Errorf("estimate cost: %w", err)
	}
	if est.Min > FilterCostLimit {
		return nil, fmt.Errorf("costs at least %d to evaluate, over the limit of %d", est.Min, FilterCostLimit)
	}
	prg, err := env.Program(ast, cel.CostLimit(FilterCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return &Filter{expr: expr, prg: prg, data: readsData(ast.NativeRep())}, nil
}

// filterCompileError makes CEL's issues one line: CEL's own rendering
// repeats the expression with a caret under the spot, which does not fit
// a file:line: key: message error.
func filterCompileError(expr string, errs []*common.Error) error {
	multiline := strings.Contains(expr, "\n")
	var parts []string
	for i, e := range errs {
		if i == maxFilterErrors {
			parts = append(parts, fmt.Sprintf("and %d more", len(errs)-i))
			break
		}
		msg := e.Message
		// The parser lists every token it would have taken: noise here.
		if m, _, ok := strings.Cut(msg, " expecting {"); ok && strings.HasPrefix(msg, "Syntax error") {
			msg = m
		}
		line, col := e.Location.Line(), e.Location.Column()+1
		switch {
		case line < 1:
			parts = append(parts, msg)
		case multiline:
			parts = append(parts, fmt.Sprintf("line %d, column %d: %s", line, col, msg))
		default:
			parts = append(parts, fmt.Sprintf("column %d: %s", col, msg))
		}
	}
	if len(parts) == 0 {
		return errors.New("does not compile")
	}
	return errors.New(strings.Join(parts, "; "))
}

// readsData reports whether the checked expression may read event.data:
// true unless every use of `event` selects one of its string fields.
func readsData(a *celast.AST) bool {
	uses, plain := 0, 0
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == "event" {
				uses++
			}
		case celast.SelectKind:
			s := e.AsSelect()
			if op := s.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "event" && s.FieldName() != "data" {
				plain++
			}
		}
	}))
	return uses != plain
}

// noSizes is a cost estimator that knows nothing beyond CEL's defaults:
// sizes of event data are unknown, so an estimate's maximum is mostly
// unbounded, and only its minimum can refuse an expression at load.
type noSizes struct{}

func (noSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (noSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// String returns the expression as configured.
func (f *Filter) String() string { return f.expr }

// Match reports whether the event in in passes the filter. An evaluation
// error (a missing field, a wrong type, the cost limit) or a result that
// is not a bool returns false and the error; the caller counts it.
func (f *Filter) Match(in *FilterInput) (bool, error) {
	if err := in.prepare(f.data); err != nil {
		return false, err
	}
	out, _, err := f.prg.Eval(&in.act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not a bool", out.Type().TypeName())
	}
	return b, nil
}

// FilterInput is one envelope as filters see it. Build one per event and
// pass it to each filter of that event: the data is decoded from JSON at
// most once, and only if a filter reads it. Not safe for concurrent use.
type FilterInput struct {
	env     Envelope
	act     filterActivation
	ready   bool  // act.ev holds all but Data
	decoded bool  // act.ev.Data holds the data, or dataErr why not
	dataErr error // the data is not JSON (a provider bug)
}

// NewFilterInput prepares env for filters; it does no work until a filter
// runs.
func NewFilterInput(env Envelope) *FilterInput { return &FilterInput{env: env} }

// prepare fills `event`, decoding the data if data is set.
func (in *FilterInput) prepare(data bool) error {
	if !in.ready {
		in.act.ev = filterEvent{
			Type: in.env.Type, Subject: in.env.Subject, Source: in.env.Source, ID: in.env.ID,
			// As the envelope's JSON renders it.
			Time: in.env.Time.Format(time.RFC3339Nano),
		}
		in.ready = true
	}
	if data && !in.decoded {
		in.decoded = true
		in.act.ev.Data, in.dataErr = decodeData(in.env.Data)
	}
	return in.dataErr
}

// decodeData is the envelope's data as generic JSON values, as the
// subscriber will read it: object always (null when there is none),
// previous only where the provider gives one.
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

// filterActivation resolves the one variable a filter has.
type filterActivation struct{ ev filterEvent }

func (a *filterActivation) ResolveName(name string) (any, bool) {
	if name == "event" {
		return &a.ev, true
	}
	return nil, false
}

func (a *filterActivation) Parent() interpreter.Activation { return nil }
