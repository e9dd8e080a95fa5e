package providertest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// testKnownAnswer checks Sign and Decode against header values computed
// outside Go, so the two cannot agree on a wrong MAC.
func (s *suite) testKnownAnswer(t *testing.T) {
	if len(s.kit.Vectors) == 0 {
		t.Fatal("providertest: Kit.Vectors is empty; add a known-answer vector computed outside Go")
	}
	for _, v := range s.kit.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			body, secret := []byte(v.Body), []byte(v.Secret)
			name, value := s.kit.Provider.Sign(body, secret)
			if !strings.EqualFold(name, s.kit.Header) || value != v.Header {
				t.Errorf("Sign = %q: %q, want %q: %q", name, value, s.kit.Header, v.Header)
			}
			s.decodeOK(t, s.request(body, v.Header), secret)
			s.decodeErr(t, s.request(body, v.Header), gateway.ErrSignature, wrongKey)
		})
	}
}

// testTampered checks that any change to a signed body is refused, even one
// that leaves the JSON valid and meaning the same.
func (s *suite) testTampered(t *testing.T) {
	for _, tc := range s.valid {
		_, value := s.kit.Provider.Sign(tc.body, secretA)
		flipped := bytes.Clone(tc.body)
		flipped[len(flipped)/2] ^= 0x01
		variants := map[string][]byte{
			"flipped bit":    flipped,
			"appended space": append(bytes.Clone(tc.body), ' '),
			"truncated":      tc.body[:len(tc.body)-1],
			"empty":          {},
		}
		for name, body := range variants {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				s.decodeErr(t, s.request(body, value), gateway.ErrSignature, secretA)
			})
		}
	}
}

// testWrongKey checks that a signature by a key the source does not hold is
// refused.
func (s *suite) testWrongKey(t *testing.T) {
	for _, tc := range s.valid {
		t.Run(tc.name, func(t *testing.T) {
			s.decodeErr(t, s.signed(t, tc.body, wrongKey), gateway.ErrSignature, secretA)
			s.decodeErr(t, s.signed(t, tc.body, wrongKey), gateway.ErrSignature, secretA, secretB)
		})
	}
}

// testMissingHeader checks that a request without the signature header, or
// with the right value under another name, is refused.
func (s *suite) testMissingHeader(t *testing.T) {
	tc := s.valid[0]
	s.decodeErr(t, s.request(tc.body, ""), gateway.ErrSignature, secretA)

	_, value := s.kit.Provider.Sign(tc.body, secretA)
	other := http.Header{}
	other.Set("X-Signature", value)
	s.decodeErr(t, gateway.Request{Header: other, Body: tc.body}, gateway.ErrSignature, secretA)
}

// testMalformedHeader checks that header values that are not a signature of
// the body are refused rather than crashing or half-matching.
func (s *suite) testMalformedHeader(t *testing.T) {
	tc := s.valid[0]
	_, good := s.kit.Provider.Sign(tc.body, secretA)
	_, other := s.kit.Provider.Sign(append(bytes.Clone(tc.body), ' '), secretA)
	values := []string{
		" ",
		"garbage",
		"not-a-signature-at-all-but-quite-long-enough",
		good[:len(good)-1],
		good[:len(good)/2],
		good + "0",
		good + "=",
		good + " " + good,
		good + "," + good,
		"=" + good,
		strings.Repeat("A", len(good)),
		strings.Repeat("0", len(good)),
		strings.Repeat("\xff", len(good)),
		other,
	}
	values = append(values, s.kit.MalformedHeaders...)
	for _, v := range values {
		t.Run(strings.ToValidUTF8(v, "?"), func(t *testing.T) {
			s.decodeErr(t, s.request(tc.body, v), gateway.ErrSignature, secretA)
		})
	}
}

// testEmptySecret checks that the provider fails closed: an empty key never
// verifies, even a signature made with the empty key, and a call without a
// usable secret is refused.
func (s *suite) testEmptySecret(t *testing.T) {
	tc := s.valid[0]
	byEmpty := s.signed(t, tc.body, nil)
	byA := s.signed(t, tc.body, secretA)
	cases := []struct {
		name    string
		req     gateway.Request
		secrets [][]byte
	}{
		{"empty-key signature, no secrets", byEmpty, nil},
		{"empty-key signature, zero-length list", byEmpty, [][]byte{}},
		{"empty-key signature, nil secret", byEmpty, [][]byte{nil}},
		{"empty-key signature, empty secret", byEmpty, [][]byte{{}}},
		{"empty-key signature, empty and real secret", byEmpty, [][]byte{{}, secretA}},
		{"real signature, no secrets", byA, nil},
		{"real signature, only empty secrets", byA, [][]byte{{}, nil}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.decodeErr(t, c.req, gateway.ErrSignature, c.secrets...)
		})
	}
}

// testRotation checks that any configured secret may verify, in any
// position, and that which one did changes nothing in the result.
func (s *suite) testRotation(t *testing.T) {
	for _, tc := range s.valid {
		t.Run(tc.name, func(t *testing.T) {
			byA := s.signed(t, tc.body, secretA)
			byB := s.signed(t, tc.body, secretB)
			want := s.decodeOK(t, byA, secretA)
			for _, c := range []struct {
				name    string
				req     gateway.Request
				secrets [][]byte
			}{
				{"new key second", byB, [][]byte{secretA, secretB}},
				{"old key first", byA, [][]byte{secretA, secretB}},
				{"new key first", byB, [][]byte{secretB, secretA}},
				{"after an empty secret", byB, [][]byte{{}, secretB}},
				{"after a wrong key", byA, [][]byte{wrongKey, secretA}},
			} {
				got := s.decodeOK(t, c.req, c.secrets...)
				if d := compareBatch(got, toGolden(want)); d != "" {
					t.Errorf("%s: decoded differently from the single-key decode:\n%s", c.name, d)
				}
			}
		})
	}
}
