package providertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Golden is the expected decoding of one valid case, stored as
// testdata/valid/<case>.golden.json.
type Golden struct {
	Test   bool          `json:"test,omitempty"`
	Events []GoldenEvent `json:"events"`
}

// GoldenEvent is a gateway.Event in a reviewable form. Object and Previous
// are compared after json.Compact, so indentation in the golden file does
// not matter but key order, escapes and number spellings do; JSON null and
// absence are the same. Time is RFC 3339, "" for the zero time.
type GoldenEvent struct {
	Type     string          `json:"type"`
	Subject  string          `json:"subject"`
	Time     string          `json:"time"`
	Identity string          `json:"identity"`
	Object   json.RawMessage `json:"object"`
	Previous json.RawMessage `json:"previous,omitempty"`
}

// testCase is one captured body and, for valid cases, its golden decoding.
type testCase struct {
	name   string
	body   []byte
	golden Golden
	path   string // of the golden file
}

// loadCases reads dir/sub/*.json (golden files excluded), with the golden
// decoding of each when sub is "valid".
func loadCases(t *testing.T, dir, sub string) []testCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, sub, "*.json"))
	if err != nil {
		t.Fatalf("providertest: list %s: %v", sub, err)
	}
	sort.Strings(paths)
	var cases []testCase
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("providertest: %v", err)
		}
		tc := testCase{
			name: strings.TrimSuffix(filepath.Base(p), ".json"),
			body: body,
			path: strings.TrimSuffix(p, ".json") + ".golden.json",
		}
		if sub == "valid" && !*update {
			raw, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatalf("providertest: %v (run with -providertest.update to create it, then review it)", err)
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&tc.golden); err != nil {
				t.Fatalf("providertest: read %s: %v", tc.path, err)
			}
		}
		cases = append(cases, tc)
	}
	return cases
}

// writeGoldens decodes every valid case, signed with secretA, and writes its
// golden file.
func writeGoldens(t *testing.T, s *suite) {
	t.Helper()
	for i := range s.valid {
		tc := &s.valid[i]
		b := s.decodeOK(t, s.signed(t, tc.body, secretA), secretA)
		tc.golden = toGolden(b)
		out, err := json.MarshalIndent(tc.golden, "", "  ")
		if err != nil {
			t.Fatalf("providertest: encode golden %s: %v", tc.name, err)
		}
		if err := os.WriteFile(tc.path, append(out, '\n'), 0o644); err != nil {
			t.Fatalf("providertest: %v", err)
		}
		t.Logf("providertest: wrote %s", tc.path)
	}
}

// toGolden converts a decoded batch to its golden form.
func toGolden(b gateway.Batch) Golden {
	g := Golden{Test: b.Test, Events: []GoldenEvent{}}
	for _, ev := range b.Events {
		ge := GoldenEvent{
			Type:     ev.Type,
			Subject:  ev.Subject,
			Identity: ev.Identity,
			Object:   normalizeRaw(ev.Object),
			Previous: ev.Previous,
		}
		if len(ge.Previous) == 0 || isNull(ge.Previous) {
			ge.Previous = nil
		}
		if !ev.Time.IsZero() {
			ge.Time = ev.Time.Format(time.RFC3339Nano)
		}
		g.Events = append(g.Events, ge)
	}
	return g
}

// compareBatch returns every difference between got and want, "" when none.
func compareBatch(got gateway.Batch, want Golden) string {
	var diffs []string
	if got.Test != want.Test {
		diffs = append(diffs, fmt.Sprintf("Test = %v, want %v", got.Test, want.Test))
	}
	if len(got.Events) != len(want.Events) {
		diffs = append(diffs, fmt.Sprintf("%d events, want %d", len(got.Events), len(want.Events)))
		return strings.Join(diffs, "\n")
	}
	for i, ev := range got.Events {
		w := want.Events[i]
		add := func(field, g, wv string) {
			if g != wv {
				diffs = append(diffs, fmt.Sprintf("event %d %s = %q, want %q", i, field, g, wv))
			}
		}
		add("Type", ev.Type, w.Type)
		add("Subject", ev.Subject, w.Subject)
		add("Identity", ev.Identity, w.Identity)
		add("Object", compact(ev.Object), compact(w.Object))
		add("Previous", compact(ev.Previous), compact(w.Previous))
		switch {
		case w.Time == "":
			if !ev.Time.IsZero() {
				diffs = append(diffs, fmt.Sprintf("event %d Time = %v, want zero", i, ev.Time))
			}
		default:
			wt, err := time.Parse(time.RFC3339Nano, w.Time)
			if err != nil {
				diffs = append(diffs, fmt.Sprintf("event %d: golden time %q: %v", i, w.Time, err))
			} else if !ev.Time.Equal(wt) {
				diffs = append(diffs, fmt.Sprintf("event %d Time = %v, want %v", i, ev.Time, wt))
			}
		}
	}
	return strings.Join(diffs, "\n")
}

// compact returns raw without insignificant whitespace, "null" for absent
// or null, and a marker for invalid JSON so that it never compares equal.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return fmt.Sprintf("<invalid JSON %q: %v>", raw, err)
	}
	return buf.String()
}

// normalizeRaw maps an absent object to JSON null, as the envelope does.
func normalizeRaw(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
