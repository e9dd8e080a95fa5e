package gateway

import (
	"encoding/hex"
	"testing"
)

func TestMatchHMACSHA256(t *testing.T) {
	// RFC 4231, test case 2.
	body := []byte("what do ya want for nothing?")
	sig, _ := hex.DecodeString("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	tests := []struct {
		name    string
		secrets [][]byte
		want    bool
	}{
		{"the key", [][]byte{[]byte("Jefe")}, true},
		{"rotation: second key", [][]byte{[]byte("old"), []byte("Jefe")}, true},
		{"wrong key", [][]byte{[]byte("jefe")}, false},
		{"empty key skipped", [][]byte{{}}, false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		if got := MatchHMACSHA256(body, sig, tt.secrets); got != tt.want {
			t.Errorf("%s: MatchHMACSHA256 = %v, want %v", tt.name, got, tt.want)
		}
	}
	if HasSecret([][]byte{{}, nil}) || !HasSecret([][]byte{{}, []byte("k")}) {
		t.Error("HasSecret: empty secrets must not count, a non-empty one must")
	}
	// An empty key's MAC must not verify even when it is the right MAC.
	empty, _ := hex.DecodeString("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad") // HMAC-SHA256("", "")
	if MatchHMACSHA256(nil, empty, [][]byte{{}}) {
		t.Error("a signature made with the empty key verified")
	}
}
