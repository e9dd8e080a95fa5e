// Package cli is the hookgate command line: `serve` (the default), `check`,
// `send`, `consume`, `health`, `secret` and `version`. main.go only calls Main, so
// every command can be run and tested in-process with its own arguments and
// output streams.
package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// Version is the release, set at build time:
//
//	go build -ldflags "-X github.com/hookgate/hookgate/internal/cli.Version=1.2.3" .
//
// It appears in `hookgate version`, the admin status and the User-Agent
// sent to subscribers.
var Version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // invalid config, cannot start
	exitUsage = 2 // bad command line
)

const usageText = `usage:
  hookgate [serve] [-config PATH] [-grace DURATION] [-log-format text|json|auto] [-allow-dev-secrets]
  hookgate check [-config PATH]
  hookgate send --source NAME --event FILE|TYPE|all [-same] [-config PATH] [-url URL] [-insecure]
  hookgate consume [-listen ADDR] [-path PATH] -secret whsec_... (or $HOOKGATE_CONSUME_SECRET)
  hookgate health [-url URL] [-config PATH] [-timeout 5s]
  hookgate secret
  hookgate version (or --version)

PATH defaults to $HOOKGATE_CONFIG, then ./config.yaml.
`

// Main runs the command named by args (os.Args[1:]) and returns the exit
// code: 0 success, 1 failure (invalid config, cannot start), 2 bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return runServe(nil, stdout, stderr)
	}
	switch cmd := args[0]; {
	case cmd == "-h" || cmd == "-help" || cmd == "--help" || cmd == "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	case cmd == "-version" || cmd == "--version" || cmd == "version":
		fmt.Fprintf(stdout, "hookgate %s (%s %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case strings.HasPrefix(cmd, "-"):
		return runServe(args, stdout, stderr)
	case cmd == "serve":
		return runServe(args[1:], stdout, stderr)
	case cmd == "check":
		return runCheck(args[1:], stdout, stderr)
	case cmd == "send":
		return runSend(args[1:], stdout, stderr)
	case cmd == "consume":
		return runConsume(args[1:], stdout, stderr)
	case cmd == "health":
		return runHealth(args[1:], stdout, stderr)
	case cmd == "secret":
		return runSecret(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "hookgate: unknown command %q\n\n%s", cmd, usageText)
		return exitUsage
	}
}

// configPathFlag adds -config to fs, defaulting to $HOOKGATE_CONFIG, then
// ./config.yaml, as SPEC 1 fixes it.
func configPathFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("HOOKGATE_CONFIG")
	if def == "" {
		def = "config.yaml"
	}
	return fs.String("config", def, "config file `PATH` ($HOOKGATE_CONFIG, else ./config.yaml)")
}

// userAgent is what subscribers see: SPEC 4 fixes "hookgate/<version>".
func userAgent() string { return "hookgate/" + Version }
