package gateway

import (
	"encoding/json"
	"time"
)

// EncodeEnvelope returns the JSON document subscribers receive for env:
// exactly what json.Marshal(env) gives, byte for byte, but without its
// reflection and without its second pass over the data, which validates
// and compacts Object and Previous although they come from a provider's
// json.Unmarshal (valid by then, and checked for every provider by
// providertest). That pass was most of the cost of an envelope: measured,
// encoding was 7-11% of the gateway's CPU in held ingest.
//
// Only what needs no escaping and no compacting takes the direct way:
// strings of printable ASCII without '"', '\\', '<', '>' or '&', and data
// with no whitespace outside its strings and none of '<', '>', '&',
// U+2028 or U+2029 (which json.Marshal escapes). Anything else goes
// through json.Marshal, which escapes it and refuses invalid data.
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
		len(env.Data.Object) + len(env.Data.Previous)
}

// appendEnvelope appends env as json.Marshal would, or reports false
// when it cannot without escaping or compacting something.
func appendEnvelope(b []byte, env Envelope) ([]byte, bool) {
	for _, s := range []string{env.SpecVersion, env.ID, env.Source, env.Type, env.Subject, env.DataContentType} {
		if !plainString(s) {
			return nil, false
		}
	}
	if y := env.Time.Year(); y < 0 || y > 9999 {
		return nil, false // json.Marshal refuses it; let it say so
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

// plainJSON reports whether json.Marshal writes the valid JSON raw as it
// is: no whitespace outside strings (compacting would drop it) and
// nothing it escapes for HTML ('<', '>', '&', U+2028, U+2029) anywhere.
func plainJSON(raw []byte) bool {
	inString, escaped := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xe2 && i+2 < len(raw) && raw[i+1] == 0x80 && (raw[i+2] == 0xa8 || raw[i+2] == 0xa9):
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
