package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// healthTimeout is the default bound on the whole of `hookgate health`
// (connect, TLS, answer), below Docker's default HEALTHCHECK timeout of
// 30s, so that the command reports its own reason rather than being killed.
const healthTimeout = 5 * time.Second

// maxHealthAnswer caps how much of a failing answer health reads and
// shows.
const maxHealthAnswer = 256

// runHealth is `hookgate health [-url URL] [-config PATH] [-timeout D]`:
// GET the admin listener's /readyz and exit 0 when it answers 200, else 1
// with one line on stderr saying why. It is the container health check
// (the Dockerfile's HEALTHCHECK), so it never waits past -timeout: a
// stopped process, a port that drops packets or a listener that accepts
// and never answers all end in exit 1 within it.
func runHealth(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configPathFlag(fs)
	target := fs.String("url", "", "the `URL` to GET (default: /readyz on admin.listen, with admin.tls; the config is then not read)")
	timeout := fs.Duration("timeout", healthTimeout, "give up after this `DURATION`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookgate health: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "hookgate health: -timeout %s: want a positive duration\n", *timeout)
		return exitUsage
	}

	// With the URL derived from admin.listen the gateway is dialled on
	// loopback; its certificate is not checked there (admin.tls is often
	// issued for a public name, or self-signed), which costs nothing: health
	// sends no credential and reads only the status.
	u, skipVerify := *target, false
	if u == "" {
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintf(stderr, "hookgate health: %s (or pass -url)\n", singleLine(err.Error()))
			return exitError
		}
		u, skipVerify = readyURL(cfg.Admin), true
	} else if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		fmt.Fprintf(stderr, "hookgate health: -url %q: want http://HOST:PORT/readyz or https://...\n", u)
		return exitUsage
	}

	status, err := checkReady(u, *timeout, skipVerify)
	if err != nil {
		fmt.Fprintf(stderr, "hookgate health: %s\n", singleLine(err.Error()))
		return exitError
	}
	fmt.Fprintf(stdout, "%s: %s\n", u, status)
	return exitOK
}

// readyURL is /readyz on the configured admin listener, reached from this
// machine (localURL).
func readyURL(ac gateway.AdminConfig) string { return localURL(ac.Listen, ac.TLS) + "/readyz" }

// checkReady GETs u once, within timeout, and returns its status line when
// it is 200. Redirects are not followed (a 3xx is not ready), no proxy is
// used (the health of this gateway, not of a proxy), and the connection is
// not kept.
func checkReady(u string, timeout time.Duration, skipVerify bool) (string, error) {
	client := &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: skipVerify}, //nolint:gosec // see runHealth
		},
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("User-Agent", "hookgate-health/"+Version)
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return "", fmt.Errorf("GET %s: no answer within %s", u, timeout)
		}
		return "", fmt.Errorf("GET %s: %w", u, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxHealthAnswer))
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("GET %s: %s", u, resp.Status)
		if b := strings.TrimSpace(string(body)); b != "" {
			msg += ": " + b
		}
		return "", errors.New(msg)
	}
	return resp.Status, nil
}

// unwrapURLError drops url.Error's "Get \"URL\": " prefix, which the
// message already carries.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// singleLine joins a multi-line message (config.Errors has one problem
// per line) with "; ", as a health check's log keeps one line.
func singleLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
