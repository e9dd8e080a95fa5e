package filter_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// FuzzTransformApply runs transforms that pass data through, rebuild it
// and diff it over arbitrary provider data: whatever the data, Apply
// returns valid JSON within the size limit, or an error; it never panics.
// Seeded from the providers' samples.
func FuzzTransformApply(f *testing.F) {
	for _, glob := range []string{"../../plugins/*/testdata/valid/*.golden.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			var g struct {
				Events []struct{ Object, Previous json.RawMessage }
			}
			if json.Unmarshal(b, &g) == nil {
				for _, e := range g.Events {
					f.Add([]byte(e.Object), []byte(e.Previous))
				}
			}
		}
	}
	f.Add([]byte(`{"a":1e400,"b":[1,{"c":null}]}`), []byte(`{"a":-0}`))
	f.Add([]byte(`"x"`), []byte(`[1,2]`))
	trs := []string{
		`event.data`,
		`event`,
		readmeDiff,
		`event.data.object.transformMapEntry(k, v, {k.upperAscii(): [v, v]})`,
		`[event.data.?object.orValue(null), event.data.?previous.orValue(null)]`,
	}
	compiled := make([]interface {
		Apply(*gateway.FilterInput) ([]byte, error)
	}, len(trs))
	for i, expr := range trs {
		compiled[i] = mustCompileTransform(f, expr)
	}
	f.Fuzz(func(t *testing.T, object, previous []byte) {
		if !json.Valid(object) || (len(previous) > 0 && !json.Valid(previous)) {
			return // providers decode their bodies before an envelope is made
		}
		env := envelope("iimmpact.product.updated", "", "")
		env.Data.Object, env.Data.Previous = object, previous
		for i, tr := range compiled {
			out, err := tr.Apply(gateway.NewFilterInput(env))
			if err != nil {
				continue
			}
			if !json.Valid(out) || len(out) > 5<<20 {
				t.Fatalf("transform %q gave %d bytes, not valid JSON within the limit: %.200s", trs[i], len(out), out)
			}
		}
	})
}
