package gateway

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Samples serves a provider's sample bodies from a directory of files
// named "<upstream type>.json", usually embedded with go:embed; adding a
// file is all it takes to add a sample. Providers use it to implement the
// SampleTypes and Sample halves of Sampler.
type Samples struct {
	provider string
	fsys     fs.FS
	dir      string
	types    []string // sorted
}

// NewSamples reads the directory listing once. It panics if dir cannot be
// read: an embedded directory is fixed at build time, so that is a bug.
func NewSamples(provider string, fsys fs.FS, dir string) *Samples {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		panic(provider + ": samples: " + err.Error())
	}
	s := &Samples{provider: provider, fsys: fsys, dir: dir}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			s.types = append(s.types, name)
		}
	}
	slices.Sort(s.types)
	return s
}

// SampleTypes lists the upstream types with a sample, sorted.
func (s *Samples) SampleTypes() []string { return slices.Clone(s.types) }

// Sample returns a copy of the unsigned sample body for eventType, or an
// error naming the known types.
func (s *Samples) Sample(eventType string) ([]byte, error) {
	if _, ok := slices.BinarySearch(s.types, eventType); !ok {
		return nil, fmt.Errorf("no %s sample for %q (known: %s)", s.provider, eventType, strings.Join(s.types, ", "))
	}
	b, err := fs.ReadFile(s.fsys, path.Join(s.dir, eventType+".json"))
	if err != nil {
		return nil, fmt.Errorf("read %s sample %q: %w", s.provider, eventType, err)
	}
	return bytes.Clone(b), nil
}
