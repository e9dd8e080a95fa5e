package cli

// The built-in providers, store backends and queue destinations register themselves in init,
// as caddy's modules/standard/imports.go does; the core never names them.
import (
	_ "github.com/hookgate/hookgate/gateway/boltstore"
	_ "github.com/hookgate/hookgate/gateway/deliver/dest"
	_ "github.com/hookgate/hookgate/gateway/redisstore"
	_ "github.com/hookgate/hookgate/plugins"
)
