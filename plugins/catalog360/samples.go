package catalog360

import (
	"embed"
	"slices"

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

// Sample returns a copy of the unsigned sample body for eventType.
func (Provider) Sample(eventType string) ([]byte, error) { return sampleSet.Sample(eventType) }

// KnownTypes lists the envelope types of Catalog360's documented event
// classes, sorted: "catalog360.asset.created" ... "catalog360.category.updated".
func (Provider) KnownTypes() []string { return slices.Clone(knownTypes) }
