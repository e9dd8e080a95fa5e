package iimmpact

import (
	"testing"

	"github.com/hookgate/hookgate/plugins/providertest"
)

// FuzzDecode feeds untrusted bodies and header values to Decode, seeded from
// testdata/ and the samples: go test ./plugins/iimmpact -fuzz FuzzDecode
func FuzzDecode(f *testing.F) { providertest.Fuzz(f, kit) }
