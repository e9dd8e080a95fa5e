// Package providertest is the conformance suite every gateway.Provider in
// plugins/ must pass, in the manner of testing/fstest.TestFS and watermill's
// tests.TestPubSub: a plugin's test file is mostly
//
//	providertest.Run(t, providertest.Kit{...})
//
// plus the cases only that provider has. The suite checks the signature
// contract (fail closed, rotation, constant inputs give constant results),
// decoding against golden files captured in the plugin's testdata/, the
// invariants of decoded events, and the shipped samples.
//
// Golden files are regenerated with
//
//	go test ./plugins/<name> -run TestConformance -providertest.update
//
// and must then be reviewed by hand: the suite trusts them.
package providertest

import (
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// update rewrites the golden files from what the provider decodes instead of
// comparing against them.
var update = flag.Bool("providertest.update", false, "rewrite testdata/valid/*.golden.json from the provider's output")

// Kit is everything the suite needs to know about one provider.
type Kit struct {
	// Name is the provider's registered name; every decoded event type
	// must be "<Name>.<resource>.<action>".
	Name string
	// Provider is the implementation under test. If it also implements
	// gateway.Sampler, its samples are checked too.
	Provider gateway.Provider
	// Header is the name of the signature header the provider reads.
	Header string
	// Dir holds the captured payloads, "testdata" when empty:
	//   valid/<case>.json         a body the provider must accept, and
	//   valid/<case>.golden.json  the Batch it must decode to (see Golden);
	//   malformed/<case>.json     a body that, correctly signed, must be
	//                             refused with gateway.ErrPayload.
	// At least one valid case should carry unknown fields and unusual
	// formatting (escapes, number spellings): the suite checks that decoded
	// objects are verbatim slices of the body.
	Dir string
	// Vectors are known answers computed outside Go, so that a Sign that
	// agrees with a wrong Decode cannot pass. At least one is required.
	Vectors []Vector
	// MalformedHeaders are provider-specific header values that must be
	// refused with gateway.ErrSignature, in addition to the generic ones.
	MalformedHeaders []string
}

// Vector is one known answer: the header value the upstream sends for Body
// signed with Secret. Body must be a valid payload of the provider.
type Vector struct {
	Name   string
	Body   string
	Secret string
	Header string
}

// Secrets the suite signs with. They are long and distinctive so that the
// check that errors never echo a secret cannot pass or fail by accident.
var (
	secretA  = []byte("providertest-secret-A-7c1e9f0b42d8")
	secretB  = []byte("providertest-secret-B-e35a06d9c1f7")
	wrongKey = []byte("providertest-wrong-key-90b1c2d3e4f5")
)

// Run runs the conformance suite against the provider in kit.
func Run(t *testing.T, kit Kit) {
	t.Helper()
	if kit.Provider == nil || kit.Name == "" || kit.Header == "" {
		t.Fatal("providertest: Kit needs Provider, Name and Header")
	}
	if kit.Dir == "" {
		kit.Dir = "testdata"
	}
	s := &suite{kit: kit}
	s.valid = loadCases(t, kit.Dir, "valid")
	s.malformed = loadCases(t, kit.Dir, "malformed")
	if len(s.valid) == 0 {
		t.Fatalf("providertest: no valid cases in %s/valid", kit.Dir)
	}
	if *update {
		writeGoldens(t, s)
	}

	t.Run("KnownAnswer", s.testKnownAnswer)
	t.Run("Golden", s.testGolden)
	t.Run("EventShape", s.testEventShape)
	t.Run("Verbatim", s.testVerbatim)
	t.Run("NoAliasing", s.testNoAliasing)
	t.Run("Tampered", s.testTampered)
	t.Run("WrongKey", s.testWrongKey)
	t.Run("MissingHeader", s.testMissingHeader)
	t.Run("MalformedHeader", s.testMalformedHeader)
	t.Run("EmptySecret", s.testEmptySecret)
	t.Run("Rotation", s.testRotation)
	t.Run("MalformedBody", s.testMalformedBody)
	t.Run("IdentityStable", s.testIdentityStable)
	t.Run("IdentityDistinct", s.testIdentityDistinct)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("Samples", s.testSamples)
}

// suite carries the kit and its loaded cases through the checks.
type suite struct {
	kit       Kit
	valid     []testCase
	malformed []testCase
}

// request builds a request carrying body and, unless value is "", the
// signature header.
func (s *suite) request(body []byte, value string) gateway.Request {
	h := http.Header{}
	if value != "" {
		h.Set(s.kit.Header, value)
	}
	return gateway.Request{Header: h, Body: body}
}

// signed builds a request carrying body signed with secret by the provider.
func (s *suite) signed(t *testing.T, body, secret []byte) gateway.Request {
	t.Helper()
	name, value := s.kit.Provider.Sign(body, secret)
	if !strings.EqualFold(name, s.kit.Header) {
		t.Fatalf("Sign header name = %q, want %q", name, s.kit.Header)
	}
	return s.request(body, value)
}

// decodeOK decodes req and fails the test on any error.
func (s *suite) decodeOK(t *testing.T, req gateway.Request, secrets ...[]byte) gateway.Batch {
	t.Helper()
	b, err := s.kit.Provider.Decode(req, secrets)
	if err != nil {
		t.Fatalf("Decode: unexpected error: %v", err)
	}
	return b
}

// decodeErr decodes req, requires an error wrapping want, and checks that
// the error names neither a secret nor the signature it was given.
func (s *suite) decodeErr(t *testing.T, req gateway.Request, want error, secrets ...[]byte) error {
	t.Helper()
	b, err := s.kit.Provider.Decode(req, secrets)
	if err == nil {
		t.Fatalf("Decode: got %d events and no error, want %v", len(b.Events), want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Decode error = %v, want one wrapping %v", err, want)
	}
	if len(b.Events) != 0 || b.Test {
		t.Errorf("Decode returned a non-empty batch (%d events, test=%v) with its error", len(b.Events), b.Test)
	}
	s.checkRedacted(t, err, req, secrets)
	return err
}

// checkRedacted fails when err's message contains any secret or the
// request's signature value.
func (s *suite) checkRedacted(t *testing.T, err error, req gateway.Request, secrets [][]byte) {
	t.Helper()
	msg := err.Error()
	for _, sec := range append(secrets, secretA, secretB, wrongKey) {
		if len(sec) >= 4 && strings.Contains(msg, string(sec)) {
			t.Errorf("error %q contains a secret", msg)
		}
	}
	if v := strings.TrimSpace(req.Header.Get(s.kit.Header)); len(v) >= 8 && strings.Contains(msg, v) {
		t.Errorf("error %q contains the signature value", msg)
	}
}
