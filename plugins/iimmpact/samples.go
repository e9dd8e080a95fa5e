package iimmpact

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// samples holds one realistic body per documented event type, named
// "<type>.json" ("product.updated.json").
//
//go:embed samples/*.json
var samples embed.FS

// sampleSet serves the files in samples/.
var sampleSet = gateway.NewSamples(Name, samples, "samples")

// documented lists IIMMPACT's resources and actions, as the envelope names
// them; every combination is a known type.
var (
	documentedResources = []string{"category", "group", "option", "product"}
	documentedActions   = []string{"created", "deleted", "updated"}
)

// SampleTypes lists the IIMMPACT event types with a sample, sorted:
// "category.created" ... "product.updated".
func (Provider) SampleTypes() []string { return sampleSet.SampleTypes() }

// Sample returns a copy of the unsigned sample body for eventType.
func (Provider) Sample(eventType string) ([]byte, error) { return sampleSet.Sample(eventType) }

// StampSample sets a sample body's timestamp to at (in the samples' own
// format, milliseconds, UTC): the samples carry a fixed time in 2024,
// which max_event_age would take for a replay, and the timestamp is part
// of an IIMMPACT event's identity (with type, resource and id), so a new
// time is a new event. nonce is not used: IIMMPACT's id is the
// resource's, not the event's, and changing it would change the subject.
func (Provider) StampSample(body []byte, at time.Time, _ string) ([]byte, error) {
	var w struct {
		Timestamp *string `json:"timestamp"`
	}
	if err := json.Unmarshal(body, &w); err != nil || w.Timestamp == nil {
		return nil, errors.New("iimmpact sample: no timestamp to stamp")
	}
	old, err := json.Marshal(*w.Timestamp)
	if err != nil {
		return nil, err
	}
	now, _ := json.Marshal(at.UTC().Format("2006-01-02T15:04:05.000Z"))
	key := []byte(`"timestamp":`)
	i := bytes.Index(body, append(key, old...))
	if i < 0 {
		return nil, errors.New("iimmpact sample: timestamp not in the expected form")
	}
	out := append(bytes.Clone(body[:i+len(key)]), now...)
	return append(out, body[i+len(key)+len(old):]...), nil
}

// KnownTypes lists the envelope types IIMMPACT documents, sorted:
// "iimmpact.category.created" ... "iimmpact.product.updated".
func (Provider) KnownTypes() []string {
	types := make([]string, 0, len(knownTypes))
	for _, t := range knownTypes {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}
