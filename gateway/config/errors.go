package config

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a config file, located so that an operator
// can go straight to it: "config.yaml:14: subscribers.search-indexer.timeout:
// must be > 0". Line is 0 when the problem has no place in the file (a
// required block that is missing altogether); Key is "" when the problem is
// not about one key (a YAML syntax error). Err never holds a secret's value.
type Error struct {
	File string
	Line int
	Key  string
	Err  error
}

// Error renders "file:line: key: message", leaving out what is unknown
// (a Config validated in code has no file and no lines).
func (e *Error) Error() string {
	var parts []string
	switch {
	case e.File != "" && e.Line > 0:
		parts = append(parts, e.File+":"+strconv.Itoa(e.Line))
	case e.File != "":
		parts = append(parts, e.File)
	case e.Line > 0:
		parts = append(parts, "line "+strconv.Itoa(e.Line))
	}
	if e.Key != "" {
		parts = append(parts, e.Key)
	}
	return strings.Join(append(parts, e.Err.Error()), ": ")
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one config file. Loading reports
// them all at once, so that a broken file takes one round of edits to fix
// rather than one per error.
type Errors []*Error

// Error renders one error per line, in file order.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortByPlace orders errors as they appear in the file; errors without a
// line (missing blocks) come first, as they concern the file as a whole.
func (es Errors) sortByPlace() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Key < es[j].Key
	})
}
