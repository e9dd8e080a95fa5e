package gateway

import (
	"encoding/json"
	"time"
)

// EncodeEnvelope returns the JSON document subscribers receive for env:
// exactly what json.Marshal(env) gives, byte for byte, but without its
// reflection and without its second pass over the data, which validates
// and compacts Object and Previous through its general scanner although
// they come from a provider's json.Unmarshal (valid by then, and checked
// for every provider by providertest); a plain check of the grammar
// (plainJSON) stands in for it. That pass was most of the cost of an
// envelope: measured, encoding was 7-11% of the gateway's CPU in held
// ingest.
//
// Only what needs no escaping and no compacting takes the direct way:
// strings of printable ASCII without '"', '\\', '<', '>' or '&', and data
// that is valid JSON with no whitespace outside its strings and none of
// '<', '>', '&', U+2028 or U+2029 (which json.Marshal escapes). Anything
// else goes through json.Marshal, which escapes it and refuses invalid
// data: a provider's bug must not reach the store as a body that no
// subscriber can parse.
func EncodeEnvelope(env Envelope) ([]byte, error) {
	if b, ok := appendEnvelope(make([]byte, 0, envelopeSize(env)), env); ok {
		return b, nil
	}
	return json.Marshal(env)
}

// envelopeSize is a capacity that holds the whole document in one
// allocation: the data, the strings and room for the names and the time.
func envelopeSize(env Envelope) int {
	return 192 + len(env.ID) + len(env.Source) + len(env.Type) + len(env.Subject) +
		len(env.TraceParent) + len(env.TraceState) + len(env.Data.Object) + len(env.Data.Previous)
}

// appendEnvelope appends env as json.Marshal would, or reports false
// when it cannot without escaping or compacting something.
func appendEnvelope(b []byte, env Envelope) ([]byte, bool) {
	for _, s := range []string{env.SpecVersion, env.TraceParent, env.TraceState, env.ID, env.Source, env.Type, env.Subject, env.DataContentType} {
		if !plainString(s) {
			return nil, false
		}
	}
	if y := env.Time.Year(); y < 0 || y > 9999 {
		return nil, false // json.Marshal refuses it; let it say so
	}
	if _, off := env.Time.Zone(); off <= -24*3600 || off >= 24*3600 {
		return nil, false // likewise: an offset of a day or more
	}
	obj, prev := env.Data.Object, env.Data.Previous
	if obj == nil {
		obj = jsonNull // as json.RawMessage's MarshalJSON writes nil
	}
	if len(obj) == 0 || !plainJSON(obj) || (len(prev) > 0 && !plainJSON(prev)) {
		return nil, false
	}
	b = append(b, `{"specversion":"`...)
	b = append(b, env.SpecVersion...)
	if env.TraceParent != "" {
		b = append(b, `","traceparent":"`...)
		b = append(b, env.TraceParent...)
	}
	if env.TraceState != "" {
		b = append(b, `","tracestate":"`...)
		b = append(b, env.TraceState...)
	}
	b = append(b, `","id":"`...)
	b = append(b, env.ID...)
	b = append(b, `","source":"`...)
	b = append(b, env.Source...)
	b = append(b, `","type":"`...)
	b = append(b, env.Type...)
	if env.Subject != "" {
		b = append(b, `","subject":"`...)
		b = append(b, env.Subject...)
	}
	b = append(b, `","time":"`...)
	b = env.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":"`...)
	b = append(b, env.DataContentType...)
	b = append(b, `","data":{"object":`...)
	b = append(b, obj...)
	if len(prev) > 0 {
		b = append(b, `,"previous":`...)
		b = append(b, prev...)
	}
	return append(b, "}}"...), true
}

// plainString reports whether json.Marshal writes s as it is, in quotes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// maxPlainDepth bounds the nesting plainJSON follows; deeper data goes
// through json.Marshal.
const maxPlainDepth = 100

// plainJSON reports whether raw is one valid JSON value that json.Marshal
// writes as it is: no whitespace outside strings (compacting would drop
// it) and nothing it escapes for HTML ('<', '>', '&', U+2028, U+2029)
// anywhere. It checks the grammar json.Valid checks, so that invalid data
// goes to json.Marshal, which refuses it; like json.Valid, it lets bytes
// that are not UTF-8 through inside strings, as json.Marshal copies them.
func plainJSON(raw []byte) bool {
	i, ok := plainValue(raw, 0, 0)
	return ok && i == len(raw)
}

// plainValue checks the plain JSON value at raw[i] and returns the index
// after it.
func plainValue(raw []byte, i, depth int) (int, bool) {
	if i >= len(raw) {
		return i, false
	}
	var ok bool
	switch c := raw[i]; {
	case c == '{':
		if depth >= maxPlainDepth {
			return i, false
		}
		if i++; i < len(raw) && raw[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(raw) || raw[i] != '"' {
				return i, false
			}
			if i, ok = plainStringAt(raw, i); !ok || i >= len(raw) || raw[i] != ':' {
				return i, false
			}
			if i, ok = plainValue(raw, i+1, depth+1); !ok || i >= len(raw) {
				return i, false
			}
			switch raw[i] {
			case ',':
				i++
			case '}':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '[':
		if depth >= maxPlainDepth {
			return i, false
		}
		if i++; i < len(raw) && raw[i] == ']' {
			return i + 1, true
		}
		for {
			if i, ok = plainValue(raw, i, depth+1); !ok || i >= len(raw) {
				return i, false
			}
			switch raw[i] {
			case ',':
				i++
			case ']':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '"':
		return plainStringAt(raw, i)
	case c == '-' || '0' <= c && c <= '9':
		return plainNumber(raw, i)
	case c == 't':
		return plainLiteral(raw, i, "true")
	case c == 'f':
		return plainLiteral(raw, i, "false")
	case c == 'n':
		return plainLiteral(raw, i, "null")
	}
	return i, false
}

// plainStringAt checks the JSON string whose quote is at raw[i] and
// returns the index after its closing quote.
func plainStringAt(raw []byte, i int) (int, bool) {
	for i++; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			return i, false
		case c == '\\':
			if i++; i >= len(raw) {
				return i, false
			}
			switch raw[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(raw)-i <= 4 || !isHex(raw[i+1]) || !isHex(raw[i+2]) || !isHex(raw[i+3]) || !isHex(raw[i+4]) {
					return i, false
				}
				i += 4
			default:
				return i, false
			}
		case c == 0xe2 && i+2 < len(raw) && raw[i+1] == 0x80 && (raw[i+2] == 0xa8 || raw[i+2] == 0xa9):
			return i, false
		}
	}
	return i, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// plainNumber checks the JSON number at raw[i] and returns the index
// after it.
func plainNumber(raw []byte, i int) (int, bool) {
	if raw[i] == '-' {
		i++
	}
	switch {
	case i < len(raw) && raw[i] == '0':
		i++
	case i < len(raw) && '1' <= raw[i] && raw[i] <= '9':
		i = digits(raw, i)
	default:
		return i, false
	}
	if i < len(raw) && raw[i] == '.' {
		j := digits(raw, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		if i++; i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		j := digits(raw, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(raw []byte, i int) int {
	for i < len(raw) && '0' <= raw[i] && raw[i] <= '9' {
		i++
	}
	return i
}

func plainLiteral(raw []byte, i int, lit string) (int, bool) {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}
