package cli

import (
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// devSecrets are the development values the shipped config.yaml falls back
// to when its variables are unset. They are published with the source, so
// a gateway running on them accepts anyone's webhooks and signs for anyone.
var devSecrets = []string{
	"dev-iimmpact-secret",
	"dev-catalog360-key",
	"whsec_aG9va2dhdGUtZGV2LXNpZ25pbmcta2V5LTMyYnl0ZXM=",
}

// devSecretWarnings names every key of cfg whose secret is a published
// development value, without showing the value.
func devSecretWarnings(cfg *gateway.Config) []string {
	var out []string
	for _, name := range sortedNames(cfg.Sources) {
		for i, s := range cfg.Sources[name].Secrets {
			if isDevSecret(s) {
				out = append(out, fmt.Sprintf("sources.%s.secrets[%d] is a published development value: set the real one before taking traffic", name, i))
			}
		}
	}
	for _, name := range sortedNames(cfg.Subscribers) {
		for i, s := range cfg.Subscribers[name].Secrets {
			if isDevSecret(s) {
				out = append(out, fmt.Sprintf("subscribers.%s.secret[%d] is a published development value: set the real one before taking traffic", name, i))
			}
		}
	}
	return out
}

func isDevSecret(s gateway.Secret) bool {
	for _, d := range devSecrets {
		if subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(d)) == 1 {
			return true
		}
	}
	return false
}

// refuseDevSecrets refuses a config with a published development secret
// on a public listener (listen, the one serving) that is not loopback,
// unless allowed: anyone who has read the repository could sign requests
// to it. The error names the keys, never the values.
func refuseDevSecrets(cfg *gateway.Config, listen string, allow bool) error {
	ws := devSecretWarnings(cfg)
	if len(ws) == 0 || allow || config.Loopback(listen) {
		return nil
	}
	return fmt.Errorf("refusing to serve on %s, which is not loopback, with published development secrets (%s): "+
		"set the real secrets in the environment, listen on loopback, or pass -allow-dev-secrets",
		listen, strings.Join(ws, "; "))
}
