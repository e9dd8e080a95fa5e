// Command hookgate is a webhook gateway: it verifies upstream catalog
// webhooks, stores them durably and fans them out, re-signed, to internal
// subscribers. See README.md; the commands live in internal/cli.
package main

import (
	"os"

	"github.com/hookgate/hookgate/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
