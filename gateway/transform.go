package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Transform is a compiled subscriber transform
// (SubscriberConfig.Transform): an expression over the envelope as
// `event` whose value is sent as the envelope's data. Package
// gateway/filter compiles them (CEL); config validation fills
// SubscriberConfig.CompiledTransform with one. A Transform is safe for
// concurrent use.
type Transform interface {
	// Apply evaluates the transform on the event in in and returns its
	// value as one JSON document, the data to send. An evaluation error
	// (a missing field, a wrong type, the cost limit), a value JSON
	// cannot hold (a map key that is not a string, bytes, a duration,
	// NaN or infinity) or a value over the size limit is an error; the
	// delivery is then dead (DeadTransform), as the same event would fail
	// the same way again. The error text says what failed in the
	// expression's terms and never quotes a secret.
	Apply(in *FilterInput) ([]byte, error)
	// String returns the expression as configured.
	String() string
}

// ErrNoData is returned by TransformEnvelope for a stored envelope with no
// top-level data member, which hookgate never writes: only damage does.
var ErrNoData = errors.New("stored envelope has no data")

// TransformEnvelope returns the stored envelope body with its data
// replaced by t's value for it: every other member (id, type, source,
// subject, time, datacontenttype, and any extension) as stored, byte for
// byte, in its place. The stored event itself is not changed. An error is
// t's, or the stored body's that does not decode.
func TransformEnvelope(t Transform, body []byte) ([]byte, error) {
	var doc storedEnvelope
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode stored envelope: %w", err)
	}
	if len(doc.Data) == 0 {
		return nil, ErrNoData
	}
	env := Envelope{ID: doc.ID, Source: doc.Source, Type: doc.Type, Subject: doc.Subject, Time: doc.Time}
	if err := json.Unmarshal(doc.Data, &env.Data); err != nil {
		return nil, fmt.Errorf("decode stored envelope: data: %w", err)
	}
	data, err := t.Apply(NewFilterInput(env))
	if err != nil {
		return nil, err
	}
	// The envelope's data is its last member, as hookgate encodes it:
	// replaced where it stands, without a second pass over the body.
	if end := len(body) - 1; end >= len(doc.Data) && body[end] == '}' && bytes.Equal(body[end-len(doc.Data):end], doc.Data) {
		start := end - len(doc.Data)
		out := make([]byte, 0, start+len(data)+1)
		out = append(out, body[:start]...)
		out = append(out, data...)
		return append(out, '}'), nil
	}
	return ReplaceData(body, data)
}

// storedEnvelope is what TransformEnvelope reads of a stored envelope:
// the attributes a transform sees, and the data as it stands in the body.
type storedEnvelope struct {
	ID      string          `json:"id"`
	Source  string          `json:"source"`
	Type    string          `json:"type"`
	Subject string          `json:"subject"`
	Time    time.Time       `json:"time"`
	Data    json.RawMessage `json:"data"`
}

// ReplaceData returns a copy of the envelope document body with the value
// of its top-level "data" member replaced by data (one JSON value, which
// the caller has encoded). body must be a JSON object; ErrNoData when it
// has no data member.
func ReplaceData(body, data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("stored envelope is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decode stored envelope: %w", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("decode stored envelope: %w", err)
		}
		if tok != "data" {
			continue
		}
		// The decoder stops right after the value; raw is its bytes as
		// they stand in body.
		end := int(dec.InputOffset())
		start := end - len(raw)
		if start < 0 || !bytes.Equal(body[start:end], raw) {
			return nil, errors.New("stored envelope: data not where the decoder left it")
		}
		out := make([]byte, 0, len(body)-len(raw)+len(data))
		out = append(out, body[:start]...)
		out = append(out, data...)
		return append(out, body[end:]...), nil
	}
	return nil, ErrNoData
}
