package filter

import (
	"encoding/json"
	"fmt"

	"github.com/hookgate/hookgate/gateway"
)

// QueryError is a search expression that does not compile, placed by
// the first of CEL's errors so that an editor can point at it.
type QueryError struct {
	// Line and Column are 1-based; an expression on one line is on line
	// 1. Column is 1 for an error of the whole expression (not a bool,
	// too costly), which CEL does not place.
	Line, Column int
	Msg          string // as Compile's error says it
}

func (e *QueryError) Error() string { return e.Msg }

// Query is a search of stored events (the admin API's ?q=): a filter
// compiled in the same environment, so that it sees `event` exactly as a
// subscriber's filter does, judged on stored envelopes. It is safe for
// concurrent use.
type Query struct{ f *Filter }

// CompileQuery compiles expr as Compile does, with the same limits. Its
// error is a *QueryError.
func CompileQuery(expr string) (*Query, error) {
	env, err := filterEnv()
	if err != nil {
		return nil, err
	}
	if _, iss := env.Compile(expr); iss.Err() != nil {
		qe := &QueryError{Line: 1, Column: 1, Msg: filterCompileError(expr, iss.Errors()).Error()}
		if errs := iss.Errors(); len(errs) > 0 && errs[0].Location.Line() >= 1 {
			qe.Line, qe.Column = errs[0].Location.Line(), max(1, errs[0].Location.Column()+1)
		}
		return nil, qe
	}
	f, err := Compile(expr)
	if err != nil {
		return nil, &QueryError{Line: 1, Column: 1, Msg: err.Error()}
	}
	return &Query{f: f}, nil
}

// Match reports whether the stored envelope body passes the query. An
// evaluation error (a missing field, a wrong type, the cost limit), a
// result that is not a bool, or a body that does not decode is no match:
// a search shows what it can tell matches, and `has()` asks whether a
// field is there.
func (q *Query) Match(body []byte) bool {
	ok, err := q.MatchErr(body)
	return ok && err == nil
}

// MatchErr is Match with the reason an event could not be judged.
func (q *Query) MatchErr(body []byte) (bool, error) {
	var env gateway.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return false, fmt.Errorf("decode stored envelope: %w", err)
	}
	return q.f.Match(gateway.NewFilterInput(env))
}

// String returns the expression.
func (q *Query) String() string { return q.f.String() }
