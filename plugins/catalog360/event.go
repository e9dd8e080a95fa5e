package catalog360

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hookgate/hookgate/gateway"
)

// wireBatch is the body Catalog360 posts. Events is nil when the key is
// absent or null, and empty but non-nil for "[]".
type wireBatch struct {
	Events []wireEvent `json:"events"`
}

// wireEvent is one element of events: its fields, and the identity hashed
// from its own JSON while that JSON is at hand.
type wireEvent struct {
	identity string
	fields   wireFields
}

// wireFields are the parts of an event the envelope needs. Old and New stay
// raw so that objects reach subscribers byte for byte, unknown fields
// included; other fields of the event only feed its identity.
type wireFields struct {
	EventClass   string `json:"event_class"`
	PayloadClass string `json:"payload_class"`
	Payload      struct {
		Old json.RawMessage `json:"old"`
		New json.RawMessage `json:"new"`
	} `json:"payload"`
}

// UnmarshalJSON hashes the element's compacted JSON for its identity, so
// that a redelivery with other whitespace is still recognized, and then
// decodes its fields. b is only valid during the call and is not kept.
func (e *wireEvent) UnmarshalJSON(b []byte) error {
	buf := compactPool.Get().(*bytes.Buffer)
	defer compactPool.Put(buf)
	buf.Reset()
	if err := json.Compact(buf, b); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	e.identity = hex.EncodeToString(sum[:])
	return json.Unmarshal(b, &e.fields)
}

// compactPool recycles the buffers events are compacted into for hashing.
var compactPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// payloadError is ErrPayload with the short reason routes/ logs and
// answers with.
func payloadError(format string, args ...any) error {
	return fmt.Errorf("decode %s batch: %w: %s", Name, gateway.ErrPayload, fmt.Sprintf(format, args...))
}

// decodeBatch turns an authentic body into its envelope events, in order.
// One bad event refuses the whole batch: storing part of it and answering
// 400 would make Catalog360 resend the part already stored.
func decodeBatch(body []byte) ([]gateway.Event, error) {
	var w wireBatch
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode %s batch: %w: %w", Name, gateway.ErrPayload, err)
	}
	if w.Events == nil {
		return nil, payloadError("events is missing")
	}
	if len(w.Events) > MaxEvents {
		return nil, payloadError("%d events, at most %d allowed", len(w.Events), MaxEvents)
	}
	events := make([]gateway.Event, len(w.Events))
	for i := range w.Events {
		if err := w.Events[i].toEvent(&events[i]); err != nil {
			return nil, payloadError("event %d: %s", i, err)
		}
	}
	return events, nil
}

// decodeTest answers a request only the test key verified: an empty batch
// is the registration test, anything else is not authentic.
func decodeTest(body []byte) (gateway.Batch, error) {
	if len(body) > maxTestBody || !isTestBody(body) {
		return gateway.Batch{}, errTestKey
	}
	return gateway.Batch{Test: true}, nil
}

// maxTestBody bounds the registration test's body: it is signed with a
// public key, so anyone can send one, and it needs no more than a few
// bytes.
const maxTestBody = 4 << 10

// isTestBody reports whether body is the registration test's own shape: a
// JSON object whose "events", present once, is an empty array. Other
// fields may appear once each; nothing may follow the object.
func isTestBody(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok || seen[key] {
			return false
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if key == "events" && string(bytes.Join(bytes.Fields(v), nil)) != "[]" {
			return false
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') || !seen["events"] {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}

// toEvent fills ev from the wire event, or says in a few words why it
// cannot.
func (e *wireEvent) toEvent(ev *gateway.Event) error {
	f := &e.fields
	resource, action, err := splitClass(f.EventClass, f.PayloadClass)
	if err != nil {
		return err
	}
	oldObj, err := object("old", f.Payload.Old)
	if err != nil {
		return err
	}
	newObj, err := object("new", f.Payload.New)
	if err != nil {
		return err
	}
	ev.Identity = e.identity
	ev.Type = eventType(resource, action)
	switch {
	case newObj != nil && oldObj != nil:
		ev.Object, ev.Previous = newObj, oldObj
	case newObj != nil:
		ev.Object = newObj
	case oldObj != nil:
		ev.Object = oldObj // a deletion: the last known state
	default:
		return fmt.Errorf("payload has neither old nor new")
	}
	id := objectID(newObj)
	if len(id) == 0 {
		id = objectID(oldObj)
	}
	if len(id) != 0 {
		var b strings.Builder // one allocation for the whole subject
		b.Grow(len(resource) + 1 + len(id))
		b.WriteString(resource)
		b.WriteByte('/')
		b.Write(id)
		ev.Subject = b.String()
	}
	return nil
}

// eventType is "catalog360.<resource>.<action>"; the documented types are
// shared rather than built per event.
func eventType(resource, action string) string {
	if t, ok := knownTypeOf[[2]string{resource, action}]; ok {
		return t
	}
	return Name + "." + resource + "." + action
}

// knownTypeOf maps resource and action to the documented envelope type.
var knownTypeOf = func() map[[2]string]string {
	m := make(map[[2]string]string, len(knownTypes))
	for _, t := range knownTypes {
		parts := strings.SplitN(t, ".", 3)
		m[[2]string{parts[1], parts[2]}] = t
	}
	return m
}()

// splitClass derives resource and action from event_class. When it starts
// with payload_class and "_", the payload class is the resource, so
// multi-word classes split right ("asset_item_split" of "asset_item");
// otherwise the class splits at its last "_". A class without "_" is taken
// as the action on payload_class, so new kinds of events pass through.
func splitClass(eventClass, payloadClass string) (resource, action string, err error) {
	switch {
	case eventClass == "":
		return "", "", fmt.Errorf("event_class is missing")
	case payloadClass != "" && len(eventClass) > len(payloadClass)+1 &&
		eventClass[len(payloadClass)] == '_' && strings.HasPrefix(eventClass, payloadClass):
		resource, action = payloadClass, eventClass[len(payloadClass)+1:]
	default:
		i := strings.LastIndexByte(eventClass, '_')
		switch {
		case i >= 0:
			resource, action = eventClass[:i], eventClass[i+1:]
		case payloadClass != "":
			resource, action = payloadClass, eventClass
		default:
			return "", "", fmt.Errorf("event_class %q names no resource and there is no payload_class", eventClass)
		}
	}
	if resource == "" || action == "" {
		return "", "", fmt.Errorf("event_class %q does not split into resource and action", eventClass)
	}
	if strings.ContainsAny(resource, "./") || strings.Contains(action, ".") {
		return "", "", fmt.Errorf("event_class %q or payload_class %q contains '.' or '/'", eventClass, payloadClass)
	}
	return resource, action, nil
}

// object checks one side of the payload: absent and null are both "none".
func object(side string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("payload.%s is not an object", side)
	}
	return raw, nil
}

// objectID is obj's "id" field: a JSON string unquoted, a number as
// written; empty when obj is nil or has no usable id. The result may share
// memory with obj.
func objectID(obj json.RawMessage) []byte {
	if obj == nil {
		return nil
	}
	var w struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(obj, &w) != nil || len(w.ID) == 0 {
		return nil
	}
	switch c := w.ID[0]; {
	case c == '"':
		if s := w.ID[1 : len(w.ID)-1]; bytes.IndexByte(s, '\\') < 0 {
			return s // the common case needs no unescaping
		}
		var s string
		if json.Unmarshal(w.ID, &s) != nil {
			return nil
		}
		return []byte(s)
	case c == '-' || '0' <= c && c <= '9':
		return w.ID
	}
	return nil
}
