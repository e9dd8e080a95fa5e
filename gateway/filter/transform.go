package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"

	"github.com/hookgate/hookgate/gateway"
)

var _ gateway.Transform = (*Transform)(nil)

// Bounds of a subscriber transform (SPEC 5, transform). A transform runs
// in a delivery worker at each attempt: these keep one expression from
// stalling its subscriber's dispatcher or building a body the gateway
// would not have taken in.
const (
	// TransformCostLimit is the most CEL cost units one evaluation may
	// spend (see CostLimit): ten times a filter's, as a transform builds
	// its value and may walk every field of an object (the README's diff
	// of two 100-field objects spends about 15,000, a three-field
	// projection about 40). Past it the evaluation stops
	// with an error, and the delivery is dead (reason transform).
	TransformCostLimit = 100000
	// maxTransformRange bounds lists.range(n): the list is built before
	// its cost is counted.
	maxTransformRange = 10000
	// maxTransformDepth bounds how deeply the value may nest: as deep as
	// encoding/json decodes, so that data passed through as it is never
	// fails on it.
	maxTransformDepth = 10000
)

// transformEnv is the CEL environment of transforms: a filter's (the same
// `event`), with the libraries that build values: lists (flatten, slice,
// sort, range), two-variable comprehensions (transformMap, transformList)
// and math.
var transformEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(types.ParseStructTags(true),
			cel.NativeTypeFor[filterEvent](cel.NativeTypeAlias(filterTypeName))),
		cel.Variable("event", cel.ObjectType(filterTypeName)),
		ext.Strings(),
		ext.Lists(ext.ListsMaxRangeSize(maxTransformRange)),
		ext.TwoVarComprehensions(),
		ext.Math(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxLength),
		cel.ParserRecursionLimit(maxFilterNesting),
		cel.RegexProgramSizeLimit(maxFilterRegex),
	)
})

// Transform is a compiled subscriber transform: a CEL expression over the
// envelope as `event` (as in a filter) whose value is sent as the
// envelope's data. It is safe for concurrent use.
type Transform struct {
	expr    string
	prg     cel.Program
	data    bool // the expression may read event.data (see Filter)
	maxSize int  // the most bytes the encoded value may take
}

// CompileTransform parses and type-checks expr, an expression over
// `event` of any type JSON can hold, whose encoded value may take at most
// maxSize bytes (> 0; config validation passes the largest body limit).
// A type JSON never holds (bytes, duration, a type) is refused here; a
// map with keys that are not strings when its key type is known. Its
// error is one line, as Compile's.
func CompileTransform(expr string, maxSize int) (*Transform, error) {
	if maxSize <= 0 {
		return nil, errors.New("transform: no size limit")
	}
	env, err := transformEnv()
	if err != nil {
		return nil, fmt.Errorf("transform environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, filterCompileError(expr, iss.Errors())
	}
	if err := jsonType(ast.OutputType()); err != nil {
		return nil, err
	}
	est, err := env.EstimateCost(ast, noSizes{})
	if err != nil {
		return nil, fmt.Errorf("estimate cost: %w", err)
	}
	if est.Min > TransformCostLimit {
		return nil, fmt.Errorf("costs at least %d to evaluate, over the limit of %d", est.Min, TransformCostLimit)
	}
	prg, err := env.Program(ast, cel.CostLimit(TransformCostLimit), cel.EvalOptions(cel.OptOptimize),
		cel.CostTrackerOptions(
			cost.OverloadTracker("", sizedCallCost),
			cost.OverloadTracker("string_format", sizedCallCost),
			cost.OverloadTracker("strings_quote", sizedCallCost)))
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return &Transform{expr: expr, prg: prg, data: readsData(ast.NativeRep()), maxSize: maxSize}, nil
}

// jsonType refuses, at load, an output type that no JSON value can be:
// the checker knows it exactly for most expressions, dyn for the rest,
// which Apply then checks value by value.
func jsonType(t *cel.Type) error {
	switch t.Kind() {
	case types.DurationKind:
		return errors.New("is a duration, which JSON cannot hold (string(d) makes it a string)")
	case types.BytesKind, types.TypeKind, types.ErrorKind, types.UnknownKind:
		return fmt.Errorf("is of type %s, which JSON cannot hold", t)
	case types.MapKind:
		if k := t.Parameters()[0]; k.Kind() != types.StringKind && k.Kind() != types.DynKind && k.Kind() != types.TypeParamKind {
			return fmt.Errorf("is a map with %s keys; JSON object keys are strings", k)
		}
		return jsonType(t.Parameters()[1])
	case types.ListKind, types.OpaqueKind:
		for _, p := range t.Parameters() {
			if err := jsonType(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// sizedCallCost is the runtime cost of a call that CEL would count as 1
// whatever it does: one the checker could not bind to one overload (its
// arguments are dyn, as event data is), and format() and strings.quote(),
// which have no cost model. Counted as 1, `a + b` of two strings from the
// data, or a format() of them, in a loop, builds gigabytes within the
// limit (measured: 14s for one transform). Here such a call costs one
// unit, plus a tenth of the bytes of its string and bytes arguments and
// result (CEL's StringTraversalCostFactor), plus the size of its list and
// map ones: as much as a typed concatenation, or more (size() of a dyn
// string is charged as a scan, which it is not).
func sizedCallCost(args []ref.Val, result ref.Val) *uint64 {
	n := uint64(0)
	for _, v := range append(args, result) {
		switch x := v.(type) {
		case types.String:
			n += uint64(len(x))
		case types.Bytes:
			n += uint64(len(x))
		case traits.Sizer:
			if s, ok := x.Size().(types.Int); ok && s > 0 {
				n += uint64(s) * 10
			}
		}
	}
	c := 1 + n/10
	return &c
}

// String returns the expression as configured.
func (t *Transform) String() string { return t.expr }

// Apply evaluates the transform on the event in in and encodes its value
// as JSON (gateway.Transform).
func (t *Transform) Apply(in *gateway.FilterInput) ([]byte, error) {
	data, err := in.Data(t.data)
	if err != nil {
		return nil, err
	}
	env := in.Envelope()
	act := &filterActivation{ev: filterEvent{
		Type: env.Type, Subject: env.Subject, Source: env.Source, ID: env.ID,
		Time: in.Time(), Data: data,
	}}
	out, _, err := t.prg.Eval(act)
	if err != nil {
		return nil, err
	}
	c := converter{budget: t.maxSize, limit: t.maxSize}
	v, err := c.native(out, 0)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if len(b) > t.maxSize {
		return nil, errTooLarge(t.maxSize)
	}
	return b, nil
}

func errTooLarge(limit int) error {
	return fmt.Errorf("value is over the size limit of %d bytes", limit)
}

// converter turns a CEL value into Go values that encoding/json writes
// (map[string]any, []any, string, float64, int64, uint64, bool, nil),
// counting what their encoding will at least take against budget, so
// that a value which references one large string many times fails here
// instead of being encoded to gigabytes.
type converter struct{ budget, limit int }

// spend takes n bytes from the budget.
func (c *converter) spend(n int) error {
	c.budget -= n
	if c.budget < 0 {
		return errTooLarge(c.limit)
	}
	return nil
}

func (c *converter) native(v ref.Val, depth int) (any, error) {
	if depth > maxTransformDepth {
		return nil, fmt.Errorf("value nests deeper than %d", maxTransformDepth)
	}
	switch x := v.(type) {
	case types.Null:
		return nil, c.spend(4)
	case types.Bool:
		return bool(x), c.spend(5)
	case types.Int:
		return int64(x), c.spend(1)
	case types.Uint:
		return uint64(x), c.spend(1)
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("value holds %v, which JSON cannot", f)
		}
		return f, c.spend(1)
	case types.String:
		return string(x), c.spend(len(x) + 2)
	case types.Timestamp:
		// As subscribers read every other time: RFC 3339, in UTC.
		s := x.Time.UTC().Format(time.RFC3339Nano)
		return s, c.spend(len(s) + 2)
	case *types.Optional:
		if !x.HasValue() {
			return nil, c.spend(4)
		}
		return c.native(x.GetValue(), depth+1)
	case *types.Err:
		return nil, errors.New(x.String())
	}
	switch v.Type() {
	case types.DurationType:
		return nil, errors.New("value holds a duration, which JSON cannot")
	case types.BytesType, types.TypeType:
		return nil, fmt.Errorf("value holds a %s, which JSON cannot", v.Type().TypeName())
	}
	if ev, ok := v.Value().(*filterEvent); ok {
		// `event` itself: as its fields read.
		return c.native(types.DefaultTypeAdapter.NativeToValue(map[string]any{
			"id": ev.ID, "source": ev.Source, "type": ev.Type, "subject": ev.Subject,
			"time": ev.Time, "data": ev.Data,
		}), depth)
	}
	if m, ok := v.(traits.Mapper); ok {
		if err := c.spend(2); err != nil {
			return nil, err
		}
		out := make(map[string]any, int(m.Size().(types.Int)))
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key of type %s; JSON object keys are strings", k.Type().TypeName())
			}
			if err := c.spend(len(ks) + 4); err != nil {
				return nil, err
			}
			e, err := c.native(m.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	}
	if l, ok := v.(traits.Lister); ok {
		n := int(l.Size().(types.Int))
		if err := c.spend(2 + n); err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			e, err := c.native(l.Get(types.Int(i)), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("value holds a %s, which JSON cannot", v.Type().TypeName())
}
