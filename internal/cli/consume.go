package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookgate/hookgate/gateway/deliver"
)

// consumeSecretEnv holds consume's secret(s) when -secret is not given, so
// that a secret need not appear in the process list or shell history.
const consumeSecretEnv = "HOOKGATE_CONSUME_SECRET"

// consumeMaxBody caps what consume reads of one request: the gateway's
// largest envelope is an upstream body of at most server.max_body wrapped.
const consumeMaxBody = 16 << 20

// consumeOptions is everything consume takes from outside, so that tests
// run it in-process with their own clock, context and streams.
type consumeOptions struct {
	listen string
	path   string // "" accepts any path
	keys   [][]byte
	// maxBody caps a request body; 0 means consumeMaxBody.
	maxBody int64
	stdout  io.Writer
	stderr  io.Writer
	// now is the clock webhook-timestamp is checked against.
	now func() time.Time
	// ready, if set, is called with the bound address once it accepts.
	ready func(net.Addr)
}

// runConsume is `hookgate consume`: a minimal subscriber that verifies
// each delivery's Standard Webhooks signature, prints the envelope and
// answers 204, or refuses with 401. It is the other end of the first five
// minutes, and a reference for writing a real consumer. It uses net/http,
// not Fiber: it is a stand-in for the operator's own service.
func runConsume(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8000", "`ADDR` to listen on")
	path := fs.String("path", "", "accept only this URL `PATH` (default: any)")
	var secrets []string
	fs.Func("secret", "signing secret `whsec_...`; repeat for rotation (default $"+consumeSecretEnv+")", func(s string) error {
		secrets = append(secrets, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookgate consume: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if len(secrets) == 0 {
		secrets = strings.FieldsFunc(os.Getenv(consumeSecretEnv), func(r rune) bool { return r == ',' || r == ' ' })
	}
	keys, err := decodeSigningSecrets(secrets)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate consume: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := consume(ctx, consumeOptions{
		listen: *listen,
		path:   *path,
		keys:   keys,
		stdout: stdout,
		stderr: stderr,
		now:    time.Now,
	}); err != nil {
		fmt.Fprintf(stderr, "hookgate consume: %v\n", err)
		return exitError
	}
	return exitOK
}

// decodeSigningSecrets turns whsec_<base64> secrets into HMAC keys. Its
// errors name the secret by position, never by value.
func decodeSigningSecrets(secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("a secret is required: -secret whsec_... or $%s", consumeSecretEnv)
	}
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		b64, ok := strings.CutPrefix(s, "whsec_")
		if !ok {
			return nil, fmt.Errorf("secret %d: must be whsec_ followed by base64", i+1)
		}
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			k, err = base64.RawStdEncoding.DecodeString(b64)
		}
		if err != nil || len(k) == 0 {
			return nil, fmt.Errorf("secret %d: not valid base64 after whsec_", i+1)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// consume serves until ctx ends, then shuts down and returns nil; it
// returns an error only when it cannot listen.
func consume(ctx context.Context, o consumeOptions) error {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	out := &consumePrinter{stdout: o.stdout, stderr: o.stderr}
	srv := &http.Server{
		Handler:           consumeHandler{o: o, out: out},
		ReadHeaderTimeout: 10 * time.Second,
	}
	out.line(o.stdout, "listening on "+ln.Addr().String())
	if o.ready != nil {
		o.ready(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	return nil
}

// consumeHandler verifies and prints one delivery per request.
type consumeHandler struct {
	o   consumeOptions
	out *consumePrinter
}

func (h consumeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.path != "" && r.URL.Path != h.o.path {
		h.out.line(h.o.stderr, fmt.Sprintf("refused: %s %s is not %s", r.Method, printable(r.URL.Path), h.o.path))
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	limit := h.o.maxBody
	if limit <= 0 {
		limit = consumeMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		code := http.StatusBadRequest
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		h.out.line(h.o.stderr, fmt.Sprintf("refused: reading the body: %v", err))
		http.Error(w, "cannot read body", code)
		return
	}
	id := printable(r.Header.Get(deliver.HeaderID))
	if err := deliver.Verify(h.o.keys, r.Header, body, h.o.now(), 0); err != nil {
		h.out.line(h.o.stderr, "refused: "+refusal(err, id))
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	}
	h.out.envelope(id, body)
	w.WriteHeader(http.StatusNoContent)
}

// refusal says in words why Verify refused a request.
func refusal(err error, id string) string {
	switch {
	case errors.Is(err, deliver.ErrMissingHeaders):
		return "no signature: " + err.Error()
	case errors.Is(err, deliver.ErrBadTimestamp):
		return fmt.Sprintf("webhook-timestamp is not unix seconds (webhook-id %s)", id)
	case errors.Is(err, deliver.ErrTooOld), errors.Is(err, deliver.ErrTooNew):
		return fmt.Sprintf("webhook-timestamp is more than %v from this clock, a replay or a skewed clock (webhook-id %s)", deliver.DefaultTolerance, id)
	default:
		return fmt.Sprintf("signature does not verify (webhook-id %s)", id)
	}
}

// printable keeps at most 200 characters of an untrusted header or path
// and replaces control characters, so that a request cannot forge lines
// of consume's output.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// consumePrinter serializes output: deliveries arrive concurrently, and
// each envelope must print as one block.
type consumePrinter struct {
	mu     sync.Mutex
	stdout io.Writer
	stderr io.Writer
}

func (p *consumePrinter) line(w io.Writer, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(w, s)
}

// envelope prints "--- <id> <type> <subject> (signature verified)" and the
// body indented. A verified body that is not JSON is printed as it came.
func (p *consumePrinter) envelope(id string, body []byte) {
	var env struct {
		Type    string `json:"type"`
		Subject string `json:"subject"`
	}
	var b strings.Builder
	b.WriteString("--- ")
	b.WriteString(id)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		b.WriteString(" (signature verified; the body is not JSON)\n")
		b.Write(body)
	} else {
		_ = json.Unmarshal(body, &env)
		for _, s := range []string{env.Type, env.Subject} {
			if s != "" {
				b.WriteString(" " + printable(s))
			}
		}
		b.WriteString(" (signature verified)\n")
		b.Write(pretty.Bytes())
	}
	p.line(p.stdout, b.String())
}
