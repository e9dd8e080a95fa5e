package providertest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// Fuzz runs a fuzz target for kit's provider: its body is decoded once under
// the fuzzed header value and once correctly signed, so the fuzzer reaches
// both the header parser and the JSON decoding behind a valid signature.
// The corpus is seeded from every body in kit.Dir and, for a Sampler, its
// samples. A plugin's fuzz test is
//
//	func FuzzDecode(f *testing.F) { providertest.Fuzz(f, kit) }
//
// Decode must never panic; an error must wrap ErrSignature or ErrPayload
// (only ErrPayload when correctly signed); a success must give well-formed
// events (checkEvent) whose objects are verbatim parts of the body, and the
// same events when decoded again.
func Fuzz(f *testing.F, kit Kit) {
	if kit.Dir == "" {
		kit.Dir = "testdata"
	}
	s := &suite{kit: kit}
	for _, sub := range []string{"valid", "malformed"} {
		paths, _ := filepath.Glob(filepath.Join(kit.Dir, sub, "*.json"))
		for _, p := range paths {
			if strings.HasSuffix(p, ".golden.json") {
				continue
			}
			body, err := os.ReadFile(p)
			if err != nil {
				f.Fatalf("providertest: %v", err)
			}
			_, value := kit.Provider.Sign(body, secretA)
			f.Add(body, value)
		}
	}
	if sp, ok := kit.Provider.(gateway.Sampler); ok {
		for _, typ := range sp.SampleTypes() {
			body, err := sp.Sample(typ)
			if err != nil {
				f.Fatalf("providertest: Sample(%q): %v", typ, err)
			}
			f.Add(body, "")
		}
	}
	for _, v := range kit.Vectors {
		f.Add([]byte(v.Body), v.Header)
	}

	f.Fuzz(func(t *testing.T, body []byte, header string) {
		secrets := [][]byte{secretA}
		b, err := kit.Provider.Decode(s.request(body, header), secrets)
		switch {
		case err != nil && !errors.Is(err, gateway.ErrSignature) && !errors.Is(err, gateway.ErrPayload):
			t.Fatalf("Decode under fuzzed header: error %v wraps neither ErrSignature nor ErrPayload", err)
		case err == nil:
			checkFuzzBatch(t, kit.Name, body, b)
		}

		_, value := kit.Provider.Sign(body, secretA)
		b, err = kit.Provider.Decode(s.request(body, value), secrets)
		if err != nil {
			if !errors.Is(err, gateway.ErrPayload) || errors.Is(err, gateway.ErrSignature) {
				t.Fatalf("Decode of a signed body: error %v, want one wrapping only ErrPayload", err)
			}
			return
		}
		if b.Test {
			t.Fatal("Decode of a body signed with a real secret reported the registration test")
		}
		checkFuzzBatch(t, kit.Name, body, b)
		again, err := kit.Provider.Decode(s.request(body, value), secrets)
		if err != nil || !slices.Equal(identities(again), identities(b)) {
			t.Fatalf("second Decode differs: err %v, identities %q then %q", err, identities(b), identities(again))
		}
	})
}

// checkFuzzBatch checks the events of a successful decode of body.
func checkFuzzBatch(t *testing.T, provider string, body []byte, b gateway.Batch) {
	t.Helper()
	for i, ev := range b.Events {
		checkEvent(t, provider, i, ev)
		for _, raw := range [][]byte{ev.Object, ev.Previous} {
			if len(raw) != 0 && !bytes.Contains(body, raw) {
				t.Errorf("event %d: object %q is not a verbatim part of the body", i, raw)
			}
		}
	}
}
