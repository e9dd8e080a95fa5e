package config

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// emptyRef is one ${VAR} reference that expanded to the empty string. It is
// kept so that an "empty secret" error can name the variable to set, which
// is what the operator needs to know.
type emptyRef struct {
	name  string
	unset bool // not in the environment at all, as opposed to set to ""
	col   int  // 0-based byte offset in the expanded line where it landed
}

// expanded is a config file after environment expansion.
type expanded struct {
	data  []byte
	empty map[int][]emptyRef // by 1-based line
	errs  []*Error
}

// expandEnv replaces ${VAR} and ${VAR:-default} in data with values from
// env, line by line, before the YAML is parsed. "$$" is a literal "$"; a "$"
// followed by anything else is kept as it is. ${VAR:-default} takes the
// default when VAR is unset or empty, as in the shell; the default is
// taken literally, up to the first "}".
//
// Comments (whole lines, and from a " #" outside quotes to the end of the
// line) are left alone, so documentation of the syntax in config.yaml cannot
// fail. A value holding a line break is refused: it would shift every line
// number that later errors report. A value is never YAML syntax: inside
// double quotes it is escaped (a secret with a backslash or a quote stays
// what it was), inside single quotes likewise, and in a plain scalar a value
// that YAML would read as more than text is refused, asking for quotes.
func expandEnv(file string, data []byte, env func(string) (string, bool)) expanded {
	out := expanded{empty: map[int][]emptyRef{}}
	lines := bytes.Split(data, []byte("\n"))
	var buf bytes.Buffer
	for i, line := range lines {
		if i > 0 {
			buf.WriteByte('\n')
		}
		lineNo := i + 1
		if t := bytes.TrimLeft(line, " \t"); len(t) > 0 && t[0] == '#' {
			buf.Write(line)
			continue
		}
		start := buf.Len()
		var q quoteState
		for j := 0; j < len(line); j++ {
			c := line[j]
			if q.comment(line, j) {
				buf.Write(line[j:]) // a trailing comment: nothing to expand
				break
			}
			if c != '$' || j+1 >= len(line) {
				q.step(c)
				buf.WriteByte(c)
				continue
			}
			switch line[j+1] {
			case '$':
				buf.WriteByte('$')
				j++
				continue
			case '{':
			default:
				q.step(c)
				buf.WriteByte(c)
				continue
			}
			end := bytes.IndexByte(line[j+2:], '}')
			if end < 0 {
				out.errs = append(out.errs, &Error{File: file, Line: lineNo,
					Err: fmt.Errorf("unterminated ${ (write $$ for a literal $)")})
				buf.Write(line[j:])
				break
			}
			ref := string(line[j+2 : j+2+end])
			j += 2 + end
			name, def, hasDef := strings.Cut(ref, ":-")
			if !validEnvName(name) {
				out.errs = append(out.errs, &Error{File: file, Line: lineNo,
					Err: fmt.Errorf("invalid variable name in ${%s}", name)})
				continue
			}
			val, set := env(name)
			if val == "" && hasDef {
				val = def
			}
			if what := unsafeInValue(val); what != "" {
				out.errs = append(out.errs, &Error{File: file, Line: lineNo,
					Err: fmt.Errorf("${%s}: value contains %s, which config values may not", name, what)})
				continue
			}
			quoted, err := q.quote(val)
			if err != nil {
				out.errs = append(out.errs, &Error{File: file, Line: lineNo,
					Err: fmt.Errorf("${%s}: %w", name, err)})
				continue
			}
			if val == "" {
				out.empty[lineNo] = append(out.empty[lineNo], emptyRef{name: name, unset: !set, col: buf.Len() - start})
			}
			buf.WriteString(quoted)
		}
	}
	out.data = buf.Bytes()
	return out
}

// quoteState follows YAML quoting along one line, so that expandEnv knows
// how a value it inserts will be read.
type quoteState struct {
	double, single, escaped bool
}

// step advances the state over one literal character of the line.
func (q *quoteState) step(c byte) {
	switch {
	case q.double && q.escaped:
		q.escaped = false
	case q.double && c == '\\':
		q.escaped = true
	case c == '"' && !q.single:
		q.double = !q.double
	case c == '\'' && !q.double:
		q.single = !q.single
	}
}

// comment reports whether line[j] starts a trailing comment.
func (q *quoteState) comment(line []byte, j int) bool {
	return line[j] == '#' && !q.double && !q.single && (j == 0 || line[j-1] == ' ' || line[j-1] == '\t')
}

// quote renders val for the current context, or says why it cannot be
// inserted there as plain text.
func (q *quoteState) quote(val string) (string, error) {
	switch {
	case q.double:
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(val), nil
	case q.single:
		return strings.ReplaceAll(val, "'", "''"), nil
	case strings.ContainsAny(val, "{}[],") || strings.Contains(val, ": ") || strings.Contains(val, " #") ||
		strings.HasSuffix(val, ":") || (val != "" && strings.IndexByte("-?:#&*!|>'\"%@`", val[0]) >= 0):
		return "", fmt.Errorf("value has characters YAML would read as syntax; put the reference in double quotes")
	}
	return val, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// emptyHint explains why the value at line, col (1-based, as yaml.Node
// reports them) is empty, when a variable reference put it there: " (X is
// unset)". It prefers the first empty reference at or after the node's
// column, which picks the right one in a flow list such as ["${A}", "${B}"].
func (e expanded) emptyHint(line, col int) string {
	refs := e.empty[line]
	if len(refs) == 0 {
		return ""
	}
	ref := refs[0]
	for _, r := range refs {
		if r.col >= col-1 {
			ref = r
			break
		}
	}
	if ref.unset {
		return fmt.Sprintf(" (%s is unset)", ref.name)
	}
	return fmt.Sprintf(" (%s is set but empty)", ref.name)
}

// unsafeInValue names what in an expanded value could change the file's
// structure or hide in it: a line break, YAML's own (NEL, LS and PS break
// lines too, so a value holding one could add keys of its own), or
// another control character, or bytes that are not UTF-8. "" when there
// is none; a tab is allowed.
func unsafeInValue(val string) string {
	for _, r := range val {
		switch {
		case r == '\r' || r == '\n' || r == '\u0085' || r == '\u2028' || r == '\u2029':
			return "a line break"
		case r == '\t':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "a control character"
		case r == utf8.RuneError:
			return "bytes that are not UTF-8"
		}
	}
	return ""
}
