package iimmpact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// wireEvent is the body IIMMPACT posts. Data stays raw so that the object
// reaches subscribers byte for byte, unknown fields included.
type wireEvent struct {
	Type      string          `json:"type"`
	Resource  string          `json:"resource"`
	ID        json.RawMessage `json:"id"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// payloadError is ErrPayload with the short reason routes/ logs and
// answers with.
func payloadError(reason string) error {
	return fmt.Errorf("decode %s event: %w: %s", Name, gateway.ErrPayload, reason)
}

// decodeEvent turns an authentic body into its envelope event. Unknown types
// and resources pass through by the same rules as the documented ones, so a
// new IIMMPACT resource reaches subscribers without a gateway release.
func decodeEvent(body []byte) (gateway.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return gateway.Event{}, fmt.Errorf("decode %s event: %w: %w", Name, gateway.ErrPayload, err)
	}
	switch {
	case w.Type == "":
		return gateway.Event{}, payloadError("type is missing")
	case w.Resource == "":
		return gateway.Event{}, payloadError("resource is missing")
	case w.Timestamp == "":
		return gateway.Event{}, payloadError("timestamp is missing")
	}
	action := w.Type[strings.LastIndexByte(w.Type, '.')+1:]
	if action == "" {
		return gateway.Event{}, payloadError("type has no action after its last dot")
	}
	resource := singular(w.Resource)
	if strings.ContainsAny(resource, "./") {
		return gateway.Event{}, payloadError("resource contains '.' or '/'")
	}
	id, err := rawID(w.ID)
	if err != nil {
		return gateway.Event{}, err
	}
	ts, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		return gateway.Event{}, payloadError("timestamp is not RFC 3339")
	}
	if len(w.Data) > 0 && w.Data[0] != '{' && string(w.Data) != "null" {
		return gateway.Event{}, payloadError("data is neither an object nor null")
	}
	return gateway.Event{
		Identity: identity(w.Type, w.Resource, id, w.Timestamp),
		Type:     eventType(resource, action),
		Subject:  resource + "/" + id,
		Time:     ts,
		Object:   w.Data,
	}, nil
}

// rawID is the event's id: a JSON string, unquoted, or a number as written
// (IIMMPACT documents strings; a numeric id is taken rather than refusing
// the event and leaving the upstream to retry it for nothing).
func rawID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", payloadError("id is missing")
	}
	switch c := raw[0]; {
	case c == '"':
		if len(raw) == 2 {
			return "", payloadError("id is empty")
		}
		if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 {
			return string(inner), nil // the common case needs no unescaping
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", payloadError("id is not a valid string")
		}
		return s, nil
	case c == '-' || '0' <= c && c <= '9':
		return string(raw), nil
	}
	return "", payloadError("id is neither a string nor a number")
}

// identity joins the fields that make an IIMMPACT event unique, each
// length-prefixed so that no two different tuples give the same string
// whatever characters the fields contain.
func identity(fields ...string) string {
	n := 0
	for _, f := range fields {
		n += len(f) + 4
	}
	var b strings.Builder
	b.Grow(n)
	var num [20]byte
	for _, f := range fields {
		b.Write(strconv.AppendInt(num[:0], int64(len(f)), 10))
		b.WriteByte(':')
		b.WriteString(f)
	}
	return b.String()
}

// knownTypes are the documented envelope types, built once so that the
// common events do not each allocate their type string.
var knownTypes = func() map[[2]string]string {
	m := map[[2]string]string{}
	for _, r := range documentedResources {
		for _, a := range documentedActions {
			m[[2]string{r, a}] = Name + "." + r + "." + a
		}
	}
	return m
}()

// eventType is "iimmpact.<resource>.<action>".
func eventType(resource, action string) string {
	if t, ok := knownTypes[[2]string{resource, action}]; ok {
		return t
	}
	return Name + "." + resource + "." + action
}

// irregular lists IIMMPACT's documented resources whose singular the
// generic rule would get wrong, or that are cheaper to look up.
var irregular = map[string]string{
	"products":   "product",
	"options":    "option",
	"categories": "category",
	"groups":     "group",
}

// singular is the singular of an IIMMPACT resource name as used in envelope
// types and subjects: the documented ones by table, any other by dropping
// "ies" for "y" or a trailing "s" ("vouchers" -> "voucher").
func singular(resource string) string {
	if s, ok := irregular[resource]; ok {
		return s
	}
	switch {
	case len(resource) > 3 && strings.HasSuffix(resource, "ies"):
		return resource[:len(resource)-3] + "y"
	case len(resource) > 1 && strings.HasSuffix(resource, "s"):
		return resource[:len(resource)-1]
	}
	return resource
}
