// Package plugins links every upstream provider into the binary. Each
// provider registers itself with gateway.RegisterProvider in its init, so
// importing this package for its side effects is all main needs, as caddy's
// modules/standard does; the core never names a provider.
package plugins

import (
	// Providers, one per upstream; add new ones here.
	_ "github.com/hookgate/hookgate/plugins/catalog360"
	_ "github.com/hookgate/hookgate/plugins/iimmpact"
)
