package providertest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// testSamples checks the samples a gateway.Sampler ships: each decodes,
// correctly signed, to events of documented types, together they cover every
// documented type, and asking for an unknown one is an error.
func (s *suite) testSamples(t *testing.T) {
	sp, ok := s.kit.Provider.(gateway.Sampler)
	if !ok {
		t.Skip("provider ships no samples")
	}
	types, known := sp.SampleTypes(), sp.KnownTypes()
	for name, list := range map[string][]string{"SampleTypes": types, "KnownTypes": known} {
		if len(list) == 0 || !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
			t.Errorf("%s = %q, want a non-empty sorted list without duplicates", name, list)
		}
	}
	covered := map[string]bool{}
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			body, err := sp.Sample(typ)
			if err != nil {
				t.Fatalf("Sample(%q): %v", typ, err)
			}
			b := s.decodeOK(t, s.signed(t, body, secretA), secretA)
			if len(b.Events) == 0 || b.Test {
				t.Fatalf("Sample(%q) decoded to %d events (test=%v), want at least one", typ, len(b.Events), b.Test)
			}
			for i, ev := range b.Events {
				checkEvent(t, s.kit.Name, i, ev)
				if _, found := slices.BinarySearch(known, ev.Type); !found {
					t.Errorf("Sample(%q) event %d has type %q, not in KnownTypes %q", typ, i, ev.Type, known)
				}
				covered[ev.Type] = true
			}
			// A caller may scribble on what it was given; the next caller
			// must still get the pristine sample.
			for i := range body {
				body[i] = 0
			}
			again, err := sp.Sample(typ)
			if err != nil || bytes.Equal(again, body) {
				t.Errorf("Sample(%q) returned shared memory (err %v)", typ, err)
			}
		})
	}
	for _, k := range known {
		if !covered[k] {
			t.Errorf("known type %q has no sample", k)
		}
	}
	if _, err := sp.Sample("no.such_type"); err == nil {
		t.Error(`Sample("no.such_type") returned no error`)
	}
}
