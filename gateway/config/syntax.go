package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// extraDocumentError is a second YAML document in the file, which Parse
// would otherwise ignore.
type extraDocumentError struct{ line int }

func (e *extraDocumentError) Error() string { return "only one YAML document is allowed" }

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError places a yaml.v3 syntax error in data, the file at path.
//
// yaml.v3 carries the line only in its message ("yaml: line 81: did not
// find expected key"), and that line is often not the culprit: a parser
// error names the line before the block it was parsing (a bad indent deep
// in subscribers is reported at subscribers:), a scanner error the line
// where the scalar it was reading began. The parser reads as a stream, so
// the culprit is where the error first appears: the shortest prefix of
// data that fails with the very same error ends on the offending line, and
// within that line, at the offending column. syntaxError finds it by
// bisection (a few dozen parses, on the error path only), and keeps
// yaml.v3's reason.
func syntaxError(path string, data []byte, err error) *Error {
	var extra *extraDocumentError
	if errors.As(err, &extra) {
		return &Error{File: path, Line: extra.line, Err: fmt.Errorf("invalid YAML: %w", err)}
	}
	msg := err.Error()
	reported := 0
	reason := strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		reported, _ = strconv.Atoi(m[1])
		reason = strings.TrimPrefix(msg, m[0])
	}
	line, col := locate(data, msg, reported)
	if line == 0 {
		return &Error{File: path, Line: reported, Err: fmt.Errorf("invalid YAML: %s", reason)}
	}
	return &Error{File: path, Line: line, Err: fmt.Errorf("invalid YAML: column %d: %s", col, reason)}
}

// locate returns the 1-based line and column (in characters) where data
// first fails with the error message msg, or 0, 0 if it cannot tell. The
// culprit is never before the reported line: yaml.v3 reports where the
// construct holding it began, or the line before that.
func locate(data []byte, msg string, reported int) (line, col int) {
	fails := func(prefix []byte) bool {
		err := decodeAll(prefix)
		return err != nil && err.Error() == msg
	}
	// ends[i] is the end of line i+1 in data, its line break included.
	var ends []int
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			i = len(data)
		} else {
			i += j + 1
		}
		ends = append(ends, i)
	}
	lo := max(reported, 1) - 1
	if lo >= len(ends) || !fails(data) {
		return 0, 0
	}
	// Once the offending line is in, every longer prefix fails the same
	// way; before it, a prefix parses, or fails for another reason (it
	// ends inside a quoted or flow value).
	// The whole of data fails, so the search ends on a line.
	i := lo + sort.Search(len(ends)-lo, func(i int) bool { return fails(data[:ends[lo+i]]) })
	start := 0
	if i > 0 {
		start = ends[i-1]
	}
	text := data[start:ends[i]]
	var runeEnds []int // ends of each character of the line
	for j := 0; j < len(text); {
		_, size := utf8.DecodeRune(text[j:])
		j += size
		runeEnds = append(runeEnds, j)
	}
	// A prefix that stops inside the line may read differently from the
	// whole line (a ':' at the end of the data is not a value indicator),
	// so it is tried as it is and as a line of its own.
	// The whole line fails, so the search ends on a character of it.
	c := sort.Search(len(runeEnds), func(c int) bool {
		prefix := data[:start+runeEnds[c]]
		return fails(prefix) || fails(append(prefix[:len(prefix):len(prefix)], '\n'))
	})
	var at int // byte offset of the culprit in text
	switch {
	case text[runeEnds[c]-1] == '\n' || text[runeEnds[c]-1] == '\r':
		// Only the line break completes the error (a key without its
		// ':'): the culprit is the line as a whole, from its first
		// character.
		at = len(text) - len(bytes.TrimLeft(text, " "))
	default:
		if c > 0 {
			at = runeEnds[c-1] // where character c starts
		}
		// An unknown alias is complete only at its last character; the
		// reader looks for its start.
		if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
			if j := bytes.LastIndex(text[:runeEnds[c]], []byte("*"+m[1])); j >= 0 {
				at = j
			}
		}
	}
	return i + 1, utf8.RuneCount(text[:at]) + 1
}

var unknownAnchorRE = regexp.MustCompile(`unknown anchor '(.*)' referenced$`)

// decodeAll parses every YAML document in data, as parseDocument does,
// and returns the first error.
func decodeAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
