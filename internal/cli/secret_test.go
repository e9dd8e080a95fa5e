package cli

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hookgate/hookgate/gateway/deliver"
)

// hookgate secret prints a fresh whsec_ secret of 32 random bytes that
// consume accepts and deliver signs with.
func TestSecret(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		var stdout, stderr bytes.Buffer
		if code := Main([]string{"secret"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
		out := stdout.String()
		s, ok := strings.CutSuffix(out, "\n")
		if !ok || !strings.HasPrefix(s, "whsec_") {
			t.Fatalf("output %q, want whsec_<base64> and a newline", out)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(key) != 32 {
			t.Fatalf("output %q decodes to %d bytes (%v), want 32", out, len(key), err)
		}
		if seen[s] {
			t.Fatalf("secret %q printed twice", s)
		}
		seen[s] = true

		keys, err := decodeSigningSecrets([]string{s})
		if err != nil || !bytes.Equal(keys[0], key) {
			t.Fatalf("consume does not read the secret back: %v", err)
		}
		now := time.Unix(1_700_000_000, 0)
		h := http.Header{}
		h.Set(deliver.HeaderID, "evt_secret")
		h.Set(deliver.HeaderTimestamp, "1700000000")
		h.Set(deliver.HeaderSignature, deliver.Sign(keys, "evt_secret", now, []byte("{}")))
		if err := deliver.Verify([][]byte{key}, h, []byte("{}"), now, 0); err != nil {
			t.Fatalf("a signature made with the new secret does not verify: %v", err)
		}
	}
}

func TestSecretErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"secret", "extra"}, &stdout, &stderr); code != exitUsage || stdout.Len() != 0 {
		t.Errorf("secret extra: exit %d, stdout %q; want %d and nothing printed", code, stdout.String(), exitUsage)
	}
	if _, err := newSigningSecret(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Errorf("newSigningSecret with a failing reader: got no error")
	}
}
