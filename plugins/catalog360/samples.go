package catalog360

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// samples holds one realistic one-event batch per documented event class,
// named "<event_class>.json" ("assetitem_updated.json").
//
//go:embed samples/*.json
var samples embed.FS

// sampleSet serves the files in samples/.
var sampleSet = gateway.NewSamples(Name, samples, "samples")

// knownTypes are the envelope types of the documented event classes.
var knownTypes = []string{
	Name + ".asset.created",
	Name + ".asset.deleted",
	Name + ".asset.updated",
	Name + ".assetitem.created",
	Name + ".assetitem.deleted",
	Name + ".assetitem.split",
	Name + ".assetitem.updated",
	Name + ".category.created",
	Name + ".category.deleted",
	Name + ".category.updated",
}

// SampleTypes lists the Catalog360 event classes with a sample, sorted:
// "asset_created" ... "category_updated".
func (Provider) SampleTypes() []string { return sampleSet.SampleTypes() }

// Sample returns a copy of the unsigned sample body for eventType: an
// event class ("asset_created"), or the type as the envelope and `hookgate
// check` spell it, with or without the provider ("asset.created",
// "catalog360.asset.created").
func (Provider) Sample(eventType string) ([]byte, error) {
	return sampleSet.Sample(sampleClass(eventType))
}

// sampleClass is the event class a dotted type names: "catalog360." is
// dropped and the last "." becomes "_" ("assetitem.split" is
// "assetitem_split"). A name without a dot is taken as a class.
func sampleClass(name string) string {
	name = strings.TrimPrefix(name, Name+".")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i] + "_" + name[i+1:]
	}
	return name
}

// StampSample sets occurred_at of every event in a sample batch to at
// and, when nonce is not empty, event_id to "hookgate-send-<nonce>" (with
// the event's index after it in a batch of more than one): fields that
// Catalog360 puts on its events and that feed only the event's identity
// (a hash of the whole event), so a new stamp is a new event and the
// objects subscribers get are the sample's own.
func (Provider) StampSample(body []byte, at time.Time, nonce string) ([]byte, error) {
	var batch map[string]json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, errors.New("catalog360 sample: not a JSON object")
	}
	var events []map[string]json.RawMessage
	if err := json.Unmarshal(batch["events"], &events); err != nil || len(events) == 0 {
		return nil, errors.New("catalog360 sample: no events to stamp")
	}
	occurred, _ := json.Marshal(at.UTC().Format("2006-01-02T15:04:05.000Z"))
	for i, ev := range events {
		if ev == nil {
			return nil, errors.New("catalog360 sample: an event is not an object")
		}
		ev["occurred_at"] = occurred
		if nonce != "" {
			id := "hookgate-send-" + nonce
			if len(events) > 1 {
				id += "-" + strconv.Itoa(i)
			}
			ev["event_id"], _ = json.Marshal(id)
		}
	}
	raw, err := marshalRaw(events)
	if err != nil {
		return nil, err
	}
	batch["events"] = raw
	return marshalRaw(batch)
}

// marshalRaw is json.Marshal without its HTML escaping, which would turn
// the samples' "&" into "\u0026" in what subscribers get.
func marshalRaw(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// KnownTypes lists the envelope types of Catalog360's documented event
// classes, sorted: "catalog360.asset.created" ... "catalog360.category.updated".
func (Provider) KnownTypes() []string { return slices.Clone(knownTypes) }
