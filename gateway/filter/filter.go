// Package filter compiles subscriber filters: CEL expressions over the
// envelope as `event` (SPEC 5, filter), which a subscriber's events must
// pass to be delivered. A compiled *Filter implements gateway.Filter;
// config validation compiles each subscriber's, and the package registers
// itself as gateway's filter compiler for a Config built in code.
//
// It is the only importer of CEL: the domain root stays free of it.
package filter

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.Filter = (*Filter)(nil)

// init registers Compile as the compiler of filters that a Config built in
// code left uncompiled (the Ingester's).
func init() {
	gateway.RegisterFilterCompiler(func(expr string) (gateway.Filter, error) {
		f, err := Compile(expr)
		if err != nil {
			return nil, err // not a nil *Filter in a non-nil interface
		}
		return f, nil
	})
}

// Bounds of a subscriber filter (SPEC 5, filter). A filter runs on the
// ingest path, once per routed event, before the provider gets its 200:
// these keep one expression from stalling ingest or the config load.
const (
	// CostLimit is the most CEL cost units one evaluation may spend
	// (about one per operation; string and list operations by their size):
	// a typical filter spends under 20, a scan of a 1000-item list about
	// 6000. Past it the evaluation stops with an error, which counts as
	// false. An expression whose least possible cost is over it is refused
	// when the config loads.
	CostLimit = 10000
	// MaxLength is the longest filter accepted, in characters.
	MaxLength = 4096
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
		cel.ParserExpressionSizeLimit(MaxLength),
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

// Compile parses and type-checks expr, which must be a bool (or dyn)
// expression over `event`. Its error is one line: CEL's message(s), each
// placed by column (and line, for an expression over several lines).
func Compile(expr string) (*Filter, error) {
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
	if est.Min > CostLimit {
		return nil, fmt.Errorf("costs at least %d to evaluate, over the limit of %d", est.Min, CostLimit)
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
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
func (f *Filter) Match(in *gateway.FilterInput) (bool, error) {
	data, err := in.Data(f.data)
	if err != nil {
		return false, err
	}
	env := in.Envelope()
	act := &filterActivation{ev: filterEvent{
		Type: env.Type, Subject: env.Subject, Source: env.Source, ID: env.ID,
		Time: in.Time(), Data: data,
	}}
	out, _, err := f.prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not a bool", out.Type().TypeName())
	}
	return b, nil
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
