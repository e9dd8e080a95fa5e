package catalog360

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
)

// samples holds one realistic one-event batch per documented event class,
// named "<event_class>.json" ("assetitem_updated.json").
//
//go:embed samples/*.json
var samples embed.FS

// sampleTypes lists the upstream types with a sample, sorted; read once from
// the embedded directory so adding a file is all it takes.
var sampleTypes = func() []string {
	entries, err := samples.ReadDir("samples")
	if err != nil {
		panic("catalog360: embedded samples: " + err.Error())
	}
	types := make([]string, 0, len(entries))
	for _, e := range entries {
		types = append(types, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(types)
	return types
}()

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

// KnownTypes lists the envelope types of Catalog360's documented event
// classes, sorted: "catalog360.asset.created" ... "catalog360.category.updated".
func (Provider) KnownTypes() []string { return slices.Clone(knownTypes) }
