package cli

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// sendTimeout bounds one request of `hookgate send`; the gateway answers
// as soon as the event is stored, so this only trips on a hung listener.
const sendTimeout = 30 * time.Second

// maxShownAnswer caps how much of the gateway's answer send prints.
const maxShownAnswer = 2048

// sendRequest is one body send will POST, labelled for its output line.
type sendRequest struct {
	label  string // the sample type or the file name
	body   []byte
	sample bool // a provider's sample, not a file
}

// runSend is `hookgate send --source NAME --event FILE|TYPE|all [-same]`:
// it signs a body exactly as the source's upstream provider would, with
// the source's first secret from the config, and POSTs it to the
// gateway's /webhooks/NAME, so that an operator can try the whole path
// without the upstream. A sample is a new event each time unless -same
// (see stampSamples). It prints one line per request and exits 0 when
// every answer is 2xx.
func runSend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configPathFlag(fs)
	source := fs.String("source", "", "source `NAME` under sources: in the config")
	event := fs.String("event", "", "a body `FILE`, a sample TYPE of the provider (product.updated), or all")
	base := fs.String("url", "", "gateway base `URL` (default: from server.listen and server.tls)")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate (a self-signed server.tls)")
	same := fs.Bool("same", false, "send a sample's fixed body (stamped to the quarter hour under max_event_age), so that sending it again is a duplicate; default: a new event each time")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "hookgate send: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case *source == "" || *event == "":
		fmt.Fprintln(stderr, "hookgate send: --source NAME and --event FILE|TYPE|all are required")
		return exitUsage
	}

	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate send: %v\n", err)
		return exitError
	}
	src, ok := cfg.Sources[*source]
	if !ok {
		fmt.Fprintf(stderr, "hookgate send: no source %q in %s (known: %s)\n",
			*source, cfg.Path, strings.Join(sortedNames(cfg.Sources), ", "))
		return exitError
	}
	provider, err := gateway.LookupProvider(src.Provider)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate send: %v\n", err)
		return exitError
	}
	reqs, err := sendBodies(provider, src.Provider, *event)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate send: %v\n", err)
		return exitError
	}
	nonce := ""
	if !*same {
		nonce = rand.Text()
	}
	at := time.Now()
	if nonce != "" {
		at = stampTime(at)
	}
	if err := stampSamples(reqs, provider, src.MaxEventAge, at, nonce); err != nil {
		fmt.Fprintf(stderr, "hookgate send: %v\n", err)
		return exitError
	}
	target := *base
	if target == "" {
		target = gatewayBaseURL(cfg.Server)
	}
	target = strings.TrimRight(target, "/") + "/webhooks/" + url.PathEscape(*source)

	client := &http.Client{
		Timeout: sendTimeout,
		// The answer to show is the gateway's own, never a redirect's.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			// -insecure is an explicit opt-in, for a self-signed server.tls.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: *insecure},
		},
	}
	defer client.CloseIdleConnections()
	secret := []byte(src.Secrets[0].Reveal())
	code := exitOK
	for _, r := range reqs {
		if !postSigned(client, target, provider, secret, r, stdout, stderr) {
			code = exitError
		}
	}
	return code
}

// stampSamples makes the samples among reqs events the gateway takes for
// new: by default (nonce not empty) each gets the provider time now, to
// the millisecond, and an event id made from nonce, so that running the
// quick start again on an existing store still reaches the consumer
// rather than being a duplicate for the whole dedupe window. With -same
// (nonce empty) a sample keeps its fixed body, and only a source with
// max_event_age (the shipped config has, for iimmpact) gets now rounded
// down to a grain of at most half of it (15 minutes at most), so that the
// gateway does not take it for a stale replay and a sample sent again
// within the grain is the same event (answered as a duplicate). Bodies
// from files are sent as they are.
func stampSamples(reqs []sendRequest, p gateway.Provider, maxAge time.Duration, now time.Time, nonce string) error {
	st, ok := p.(gateway.SampleStamper)
	if !ok || (nonce == "" && maxAge <= 0) {
		return nil
	}
	at := now.UTC().Truncate(time.Millisecond)
	if nonce == "" {
		at = now.UTC().Truncate(min(maxAge/2, 15*time.Minute))
	}
	for i := range reqs {
		if !reqs[i].sample {
			continue
		}
		b, err := st.StampSample(reqs[i].body, at, nonce)
		if err != nil {
			return fmt.Errorf("sample %s: %w", reqs[i].label, err)
		}
		reqs[i].body = b
	}
	return nil
}

// sendBodies resolves --event: an existing file is sent as is; "all" is
// every sample of the provider; anything else names one sample type.
func sendBodies(p gateway.Provider, providerName, event string) ([]sendRequest, error) {
	if fi, err := os.Stat(event); err == nil && fi.Mode().IsRegular() {
		b, err := os.ReadFile(event)
		if err != nil {
			return nil, fmt.Errorf("read event file: %w", err)
		}
		return []sendRequest{{label: event, body: b}}, nil
	}
	sampler, ok := p.(gateway.Sampler)
	if !ok {
		return nil, fmt.Errorf("--event %q: no such file, and provider %s ships no samples", event, providerName)
	}
	if event == "all" {
		var out []sendRequest
		for _, typ := range sampler.SampleTypes() {
			b, err := sampler.Sample(typ)
			if err != nil {
				return nil, fmt.Errorf("sample %s: %w", typ, err)
			}
			out = append(out, sendRequest{label: typ, body: b, sample: true})
		}
		return out, nil
	}
	b, err := sampler.Sample(event)
	if err != nil {
		if strings.ContainsRune(event, os.PathSeparator) || strings.HasSuffix(event, ".json") {
			return nil, fmt.Errorf("--event %q: no such file", event)
		}
		return nil, fmt.Errorf("--event: %w", err)
	}
	return []sendRequest{{label: event, body: b, sample: true}}, nil
}

// gatewayBaseURL is where the configured public listener is reached from
// this machine (localURL).
func gatewayBaseURL(sc gateway.ServerConfig) string { return localURL(sc.Listen, sc.TLS) }

// localURL is the base URL of a listener on listen, https when tc is set,
// reached from this machine: a wildcard host (0.0.0.0, as in the Docker
// image, or [::]) is dialled on loopback.
func localURL(listen string, tc gateway.TLSConfig) string {
	scheme := "http"
	if tc.CertFile != "" && tc.KeyFile != "" {
		scheme = "https"
	}
	addr := listen
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return scheme + "://" + addr
}

// postSigned sends one signed body and prints "<label> -> <status> <answer>";
// it reports whether the answer was 2xx. The secret goes into the header
// only, never into output.
func postSigned(client *http.Client, target string, p gateway.Provider, secret []byte, r sendRequest, stdout, stderr io.Writer) bool {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(r.body))
	if err != nil {
		fmt.Fprintf(stderr, "%s -> error: %v\n", r.label, err)
		return false
	}
	name, value := p.Sign(r.body, secret)
	req.Header.Set(name, value)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookgate-send/"+Version)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "%s -> error: %v (is the gateway running? `hookgate serve`)\n", r.label, err)
		return false
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxShownAnswer+1))
	shown := strings.TrimSpace(string(answer))
	if len(answer) > maxShownAnswer {
		shown = strings.TrimSpace(string(answer[:maxShownAnswer])) + " [...]"
	}
	fmt.Fprintf(stdout, "%s -> %s %s\n", r.label, resp.Status, shown)
	return resp.StatusCode/100 == 2
}

// lastStamp is the millisecond of the last new-event stamp in this process.
var lastStamp atomic.Int64

// stampTime is now, moved past the last stamp this process gave out: an
// IIMMPACT event's identity has the provider's timestamp to the
// millisecond and no event id of its own, so two sends in one millisecond
// (a script, or tests calling Main) would otherwise be one event twice.
func stampTime(now time.Time) time.Time {
	for {
		last, ms := lastStamp.Load(), now.UnixMilli()
		if ms <= last {
			ms = last + 1
		}
		if lastStamp.CompareAndSwap(last, ms) {
			return time.UnixMilli(ms)
		}
	}
}
