package iimmpact

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
)

// samples holds one realistic body per documented event type, named
// "<type>.json" ("product.updated.json").
//
//go:embed samples/*.json
var samples embed.FS

// sampleTypes lists the upstream types with a sample, sorted; read once from
// the embedded directory so adding a file is all it takes.
var sampleTypes = func() []string {
	entries, err := samples.ReadDir("samples")
	if err != nil {
		panic("iimmpact: embedded samples: " + err.Error())
	}
	types := make([]string, 0, len(entries))
	for _, e := range entries {
		types = append(types, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(types)
	return types
}()

// documented lists IIMMPACT's resources and actions, as the envelope names
// them; every combination is a known type.
var (
	documentedResources = []string{"category", "group", "option", "product"}
	documentedActions   = []string{"created", "deleted", "updated"}
)

// SampleTypes lists the IIMMPACT event types with a sample, sorted:
// "category.created" ... "product.updated".
func (Provider) SampleTypes() []string { return slices.Clone(sampleTypes) }

// Sample returns a copy of the unsigned sample body for eventType.
func (Provider) Sample(eventType string) ([]byte, error) {
	if _, ok := slices.BinarySearch(sampleTypes, eventType); !ok {
		return nil, fmt.Errorf("no %s sample for %q (known: %s)", Name, eventType, strings.Join(sampleTypes, ", "))
	}
	b, err := samples.ReadFile(path.Join("samples", eventType+".json"))
	if err != nil {
		return nil, fmt.Errorf("read %s sample %q: %w", Name, eventType, err)
	}
	return bytes.Clone(b), nil
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
