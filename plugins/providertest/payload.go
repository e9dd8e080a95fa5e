package providertest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// testGolden checks that every captured payload decodes to exactly its
// golden events.
func (s *suite) testGolden(t *testing.T) {
	for _, tc := range s.valid {
		t.Run(tc.name, func(t *testing.T) {
			got := s.decodeOK(t, s.signed(t, tc.body, secretA), secretA)
			if d := compareBatch(got, tc.golden); d != "" {
				t.Errorf("decoded batch differs from %s:\n%s", tc.path, d)
			}
		})
	}
}

// testEventShape checks the invariants every decoded event keeps, whatever
// the payload: the type is "<name>.<resource>.<action>" with three
// non-empty segments, the subject names the same resource, and there is an
// identity.
func (s *suite) testEventShape(t *testing.T) {
	for _, tc := range s.valid {
		t.Run(tc.name, func(t *testing.T) {
			b := s.decodeOK(t, s.signed(t, tc.body, secretA), secretA)
			for i, ev := range b.Events {
				checkEvent(t, s.kit.Name, i, ev)
			}
		})
	}
}

// checkEvent reports every way ev breaks the envelope's rules.
func checkEvent(t *testing.T, provider string, i int, ev gateway.Event) {
	t.Helper()
	segs := strings.Split(ev.Type, ".")
	if len(segs) != 3 || segs[0] != provider || segs[1] == "" || segs[2] == "" {
		t.Errorf("event %d: Type %q is not %s.<resource>.<action>", i, ev.Type, provider)
	}
	if ev.Identity == "" {
		t.Errorf("event %d (%s): empty Identity", i, ev.Type)
	}
	if ev.Subject != "" && len(segs) == 3 {
		res, id, ok := strings.Cut(ev.Subject, "/")
		if !ok || res != segs[1] || id == "" {
			t.Errorf("event %d: Subject %q is not %s/<id>", i, ev.Subject, segs[1])
		}
	}
	for name, raw := range map[string]json.RawMessage{"Object": ev.Object, "Previous": ev.Previous} {
		if len(raw) != 0 && !json.Valid(raw) {
			t.Errorf("event %d: %s is not valid JSON: %q", i, name, raw)
		}
	}
}

// testVerbatim checks that objects are passed through byte for byte, as
// slices of the body: unknown fields, key order, escapes and number
// spellings all survive, because nothing was re-marshalled.
func (s *suite) testVerbatim(t *testing.T) {
	for _, tc := range s.valid {
		t.Run(tc.name, func(t *testing.T) {
			b := s.decodeOK(t, s.signed(t, tc.body, secretA), secretA)
			for i, ev := range b.Events {
				for name, raw := range map[string]json.RawMessage{"Object": ev.Object, "Previous": ev.Previous} {
					if len(raw) != 0 && !bytes.Contains(tc.body, raw) {
						t.Errorf("event %d: %s %s is not a verbatim part of the body", i, name, raw)
					}
				}
			}
		})
	}
}

// testNoAliasing checks that decoded events do not share memory with the
// request body, which the HTTP layer may reuse once Decode returns.
func (s *suite) testNoAliasing(t *testing.T) {
	for _, tc := range s.valid {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Clone(tc.body)
			got := s.decodeOK(t, s.signed(t, body, secretA), secretA)
			for i := range body {
				body[i] = 'X'
			}
			if d := compareBatch(got, tc.golden); d != "" {
				t.Errorf("events changed when the body buffer was overwritten:\n%s", d)
			}
		})
	}
}

// testMalformedBody checks that authentic bodies which are not payloads of
// the provider are refused with ErrPayload and a reason, never accepted in
// part and never blamed on the signature.
func (s *suite) testMalformedBody(t *testing.T) {
	generic := map[string]string{
		"empty":            "",
		"not JSON":         "not json",
		"unterminated":     "{",
		"array":            "[]",
		"null":             "null",
		"number":           "42",
		"string":           `"product.updated"`,
		"empty object":     "{}",
		"trailing garbage": string(s.valid[0].body) + "}",
	}
	run := func(name string, body []byte) {
		t.Run(name, func(t *testing.T) {
			err := s.decodeErr(t, s.signed(t, body, secretA), gateway.ErrPayload, secretA)
			reason := strings.TrimSpace(strings.Replace(err.Error(), gateway.ErrPayload.Error(), "", 1))
			if strings.Trim(reason, ":") == "" {
				t.Errorf("error %q gives no reason", err)
			}
		})
	}
	for name, body := range generic {
		run("generic/"+name, []byte(body))
	}
	for _, tc := range s.malformed {
		run(tc.name, tc.body)
	}
}

// testIdentityStable checks that the same upstream event always gets the
// same identity: decoded twice, under another key, or re-indented.
func (s *suite) testIdentityStable(t *testing.T) {
	for _, tc := range s.valid {
		t.Run(tc.name, func(t *testing.T) {
			first := identities(s.decodeOK(t, s.signed(t, tc.body, secretA), secretA))
			again := identities(s.decodeOK(t, s.signed(t, tc.body, secretB), secretB))
			var indented bytes.Buffer
			if err := json.Indent(&indented, tc.body, "", "\t "); err != nil {
				t.Fatalf("indent %s: %v", tc.name, err)
			}
			reformatted := identities(s.decodeOK(t, s.signed(t, indented.Bytes(), secretA), secretA))
			for name, got := range map[string][]string{"second decode": again, "re-indented body": reformatted} {
				if strings.Join(got, "\n") != strings.Join(first, "\n") {
					t.Errorf("%s: identities %q, want %q", name, got, first)
				}
			}
		})
	}
}

// testIdentityDistinct checks that different events in the captured
// payloads never share an identity, which would make dedupe drop one.
func (s *suite) testIdentityDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, tc := range s.valid {
		b := s.decodeOK(t, s.signed(t, tc.body, secretA), secretA)
		for i, ev := range b.Events {
			where := tc.name + " event " + strconv.Itoa(i)
			if prev, dup := seen[ev.Identity]; dup {
				t.Errorf("%s has the identity of %s: %q", where, prev, ev.Identity)
			}
			seen[ev.Identity] = where
		}
	}
}

// testConcurrent decodes every case from several goroutines at once; with
// -race it catches shared mutable state in a provider documented as safe
// for concurrent use.
func (s *suite) testConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(s.valid))
	for range 4 {
		for _, tc := range s.valid {
			req := s.signed(t, tc.body, secretA)
			wg.Go(func() {
				got, err := s.kit.Provider.Decode(req, [][]byte{secretB, secretA})
				if err != nil {
					errs <- tc.name + ": " + err.Error()
					return
				}
				if d := compareBatch(got, tc.golden); d != "" {
					errs <- tc.name + ": " + d
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// identities lists the identities of b's events in order.
func identities(b gateway.Batch) []string {
	ids := make([]string, len(b.Events))
	for i, ev := range b.Events {
		ids[i] = ev.Identity
	}
	return ids
}
