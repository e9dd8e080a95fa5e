package cli

import (
	"fmt"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// adminTLSWarnings names an admin token that would travel in clear: the
// admin listener is not loopback and admin.tls is not set. A warning at
// start and from `hookgate check`, not an error: a proxy in front may
// terminate TLS (docs/edge.md's advice), which the gateway cannot see, and
// refusing would stop such a deployment at its next restart.
func adminTLSWarnings(cfg *gateway.Config) []string {
	if cfg.Admin.Token == "" || config.Loopback(cfg.Admin.Listen) || cfg.Admin.TLS.CertFile != "" {
		return nil
	}
	return []string{fmt.Sprintf("admin.tls: the admin listener %s is not loopback and serves plain HTTP, so admin.token "+
		"crosses the network in clear; set admin.tls.cert_file and key_file, unless a proxy in front terminates TLS",
		cfg.Admin.Listen)}
}
