package gateway

import (
	"bytes"
	"fmt"
	"strings"
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
	errs  []*ConfigError
}

// expandEnv replaces ${VAR} and ${VAR:-default} in data with values from
// env, line by line, before the YAML is parsed. "$$" is a literal "$"; a "$"
// followed by anything else is kept as it is. ${VAR:-default} takes the
// default when VAR is unset or empty, as in the shell; the default is
// taken literally, up to the first "}".
//
// Lines whose first non-blank character is "#" are comments and are left
// alone, so documentation of the syntax in config.yaml cannot fail. A value
// holding a line break is refused: it would shift every line number that
// later errors report, and could smuggle YAML structure into the file.
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
		for j := 0; j < len(line); j++ {
			c := line[j]
			if c != '$' || j+1 >= len(line) {
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
				buf.WriteByte(c)
				continue
			}
			end := bytes.IndexByte(line[j+2:], '}')
			if end < 0 {
				out.errs = append(out.errs, &ConfigError{File: file, Line: lineNo,
					Err: fmt.Errorf("unterminated ${ (write $$ for a literal $)")})
				buf.Write(line[j:])
				break
			}
			ref := string(line[j+2 : j+2+end])
			j += 2 + end
			name, def, hasDef := strings.Cut(ref, ":-")
			if !validEnvName(name) {
				out.errs = append(out.errs, &ConfigError{File: file, Line: lineNo,
					Err: fmt.Errorf("invalid variable name in ${%s}", name)})
				continue
			}
			val, set := env(name)
			if val == "" && hasDef {
				val = def
			}
			if strings.ContainsAny(val, "\r\n") {
				out.errs = append(out.errs, &ConfigError{File: file, Line: lineNo,
					Err: fmt.Errorf("${%s}: value contains a line break, which config values may not", name)})
				continue
			}
			if val == "" {
				out.empty[lineNo] = append(out.empty[lineNo], emptyRef{name: name, unset: !set, col: buf.Len() - start})
			}
			buf.WriteString(val)
		}
	}
	out.data = buf.Bytes()
	return out
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
