package iimmpact

import (
	"embed"
	"slices"

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
