package cli

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
)

// secretBytes is the size of a generated signing key: 32 bytes, as much as
// HMAC-SHA256 can use to advantage and twice the 16 the config requires.
const secretBytes = 32

// runSecret is `hookgate secret`: it prints a new subscriber signing secret,
// whsec_<base64 of 32 random bytes>, for subscribers.<name>.secret and the
// consumer that verifies it. It is printed because the operator asked for
// it; nothing else in hookgate prints a secret.
func runSecret(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secret", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookgate secret: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	s, err := newSigningSecret(rand.Reader)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate secret: %v\n", err)
		return exitError
	}
	fmt.Fprintln(stdout, s)
	return exitOK
}

// newSigningSecret reads secretBytes from r (crypto/rand outside tests) and
// formats them as a Standard Webhooks secret.
func newSigningSecret(r io.Reader) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}
