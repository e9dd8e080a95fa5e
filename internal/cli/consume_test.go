package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway/deliver"
)

var (
	consumeKey     = []byte("CONSUMEKEY-current-0123456789")
	consumeOldKey  = []byte("CONSUMEKEY-rotated-0123456789")
	consumeWrong   = []byte("CONSUMEKEY-wrong---0123456789")
	consumeNow     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	consumeEnvelop = `{"specversion":"1.0","id":"evt_0123abcd","source":"iimmpact","type":"iimmpact.product.updated","subject":"product/CELCOM10","time":"2024-01-15T10:30:00Z","datacontenttype":"application/json","data":{"object":{"id":"CELCOM10"}}}`
)

// startConsume runs consume in-process with the clock at consumeNow and
// returns its base URL, its output and a stop func that requires it to
// return nil.
func startConsume(t *testing.T, path string, keys ...[]byte) (base string, stdout, stderr *lockedBuffer, stop func()) {
	t.Helper()
	return startConsumeMax(t, path, 0, keys...)
}

// startConsumeMax is startConsume with a body limit.
func startConsumeMax(t *testing.T, path string, maxBody int64, keys ...[]byte) (base string, stdout, stderr *lockedBuffer, stop func()) {
	t.Helper()
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- consume(ctx, consumeOptions{
			listen: "127.0.0.1:0", path: path, keys: keys, maxBody: maxBody,
			stdout: stdout, stderr: stderr,
			now:   func() time.Time { return consumeNow },
			ready: func(a net.Addr) { addrs <- a },
		})
	}()
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case err := <-done:
		cancel()
		t.Fatalf("consume returned before listening: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consume after cancel: %v, want nil", err)
		}
	}
	t.Cleanup(stop)
	return base, stdout, stderr, stop
}

// signedHeader is what the gateway sends: Standard Webhooks headers for
// body under keys at ts.
func signedHeader(id string, ts time.Time, body string, keys ...[]byte) http.Header {
	h := http.Header{}
	h.Set(deliver.HeaderID, id)
	h.Set(deliver.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(deliver.HeaderSignature, deliver.Sign(keys, id, ts, []byte(body)))
	h.Set("Content-Type", "application/json")
	return h
}

func TestConsume(t *testing.T) {
	const id = "evt_0123abcd"
	tests := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		wantCode   int
		wantStdout []string // substrings
		wantStderr string   // substring; "" means stderr stays empty
	}{
		{"valid", "POST", "/hooks/catalog", signedHeader(id, consumeNow, consumeEnvelop, consumeKey), 204, []string{
			"--- evt_0123abcd iimmpact.product.updated product/CELCOM10 (signature verified)\n{\n",
			"\n  \"type\": \"iimmpact.product.updated\",\n",
			"\n  \"data\": {\n    \"object\": {\n      \"id\": \"CELCOM10\"\n    }\n  }\n}\n",
		}, ""},
		{"signed with the rotated-out key", "POST", "/hooks/catalog", signedHeader(id, consumeNow, consumeEnvelop, consumeOldKey), 204,
			[]string{"(signature verified)"}, ""},
		{"one of several signatures matches", "POST", "/hooks/catalog", signedHeader(id, consumeNow, consumeEnvelop, consumeWrong, consumeKey), 204,
			[]string{"(signature verified)"}, ""},
		{"wrong key", "POST", "/hooks/catalog", signedHeader(id, consumeNow, consumeEnvelop, consumeWrong), 401, nil,
			"refused: signature does not verify (webhook-id evt_0123abcd)\n"},
		{"no signature", "POST", "/hooks/catalog", http.Header{}, 401, nil,
			"refused: no signature: missing webhook-id, webhook-timestamp or webhook-signature\n"},
		{"replayed from long ago", "POST", "/hooks/catalog", signedHeader(id, consumeNow.Add(-time.Hour), consumeEnvelop, consumeKey), 401, nil,
			"refused: webhook-timestamp is more than 5m0s from this clock"},
		{"control character in the id", "POST", "/hooks/catalog", signedHeader("evt_x\tforged", consumeNow, consumeEnvelop, consumeWrong), 401, nil,
			"(webhook-id evt_x?forged)\n"},
		{"other path", "POST", "/elsewhere", signedHeader(id, consumeNow, consumeEnvelop, consumeKey), 404, nil,
			"refused: POST /elsewhere is not /hooks/catalog\n"},
		{"GET", "GET", "/hooks/catalog", http.Header{}, 405, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, stdout, stderr, stop := startConsume(t, "/hooks/catalog", consumeKey, consumeOldKey)
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(consumeEnvelop))
			req.Header = tt.header
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			stop()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d; stderr %q", resp.StatusCode, tt.wantCode, stderr.String())
			}
			out := stdout.String()
			if !strings.HasPrefix(out, "listening on 127.0.0.1:") {
				t.Errorf("stdout does not start with the listening line:\n%s", out)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if len(tt.wantStdout) == 0 && strings.Contains(out, "---") {
				t.Errorf("a refused request printed an envelope:\n%s", out)
			}
			if errOut := stderr.String(); (tt.wantStderr == "") != (errOut == "") || !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", errOut, tt.wantStderr)
			}
			all := out + stderr.String()
			for _, k := range [][]byte{consumeKey, consumeOldKey, consumeWrong} {
				if strings.Contains(all, "CONSUMEKEY") || strings.Contains(all, base64.StdEncoding.EncodeToString(k)) {
					t.Errorf("consume printed a key:\n%s", all)
				}
			}
		})
	}
}

// Without -path every path is accepted; a verified body that is not JSON
// is printed as it came.
func TestConsumeAnyPath(t *testing.T) {
	base, stdout, _, stop := startConsume(t, "", consumeKey)
	req, _ := http.NewRequest(http.MethodPost, base+"/any/where", strings.NewReader("plain text"))
	req.Header = signedHeader("evt_plain", consumeNow, "plain text", consumeKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status %d, want 204", resp.StatusCode)
	}
	if want := "--- evt_plain (signature verified; the body is not JSON)\nplain text\n"; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
	}
}

func TestConsumeFlags(t *testing.T) {
	good := "whsec_" + base64.StdEncoding.EncodeToString(consumeKey)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name     string
		env      string // HOOKGATE_CONSUME_SECRET
		args     []string
		wantCode int
		wantErr  string // substring of stderr
	}{
		{"no secret", "", nil, exitUsage, "a secret is required: -secret whsec_... or $HOOKGATE_CONSUME_SECRET"},
		{"not whsec", "", []string{"-secret", "CONSUMEKEY-plain"}, exitUsage, "secret 1: must be whsec_ followed by base64"},
		{"bad base64", "", []string{"-secret", good, "-secret", "whsec_CONSUMEKEY!!"}, exitUsage, "secret 2: not valid base64"},
		{"bad secret in env", "whsec_CONSUMEKEY!!", nil, exitUsage, "secret 1: not valid base64"},
		// A good secret gets as far as listening; the port is taken.
		{"secret from env", good, []string{"-listen", taken.Addr().String()}, exitError, "hookgate consume: listen:"},
		{"secret flag", "", []string{"-secret", good, "-listen", taken.Addr().String()}, exitError, "hookgate consume: listen:"},
		{"extra argument", good, []string{"more"}, exitUsage, `unexpected argument "more"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(consumeSecretEnv, tt.env)
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"consume"}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and stderr containing %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
			if all := stdout.String() + stderr.String(); strings.Contains(all, "CONSUMEKEY") || strings.Contains(all, good) {
				t.Errorf("consume printed a secret:\n%s", all)
			}
		})
	}
}

// A body over the limit is refused with 413 before it is verified.
func TestConsumeBodyTooLarge(t *testing.T) {
	base, stdout, stderr, stop := startConsumeMax(t, "", 64, consumeKey)
	body := strings.Repeat("x", 65)
	req, _ := http.NewRequest(http.MethodPost, base+"/hook", strings.NewReader(body))
	req.Header = signedHeader("evt_big", consumeNow, body, consumeKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	if !strings.Contains(stderr.String(), "refused: reading the body: http: request body too large") {
		t.Errorf("stderr = %q, want the refusal", stderr.String())
	}
	if strings.Contains(stdout.String(), "---") {
		t.Errorf("an oversized body was printed:\n%s", stdout.String())
	}
}
