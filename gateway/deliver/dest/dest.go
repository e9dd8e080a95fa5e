// Package dest links in every queue destination kind (subscribers.<name>.kind
// other than http): each registers itself with gateway.RegisterDestination
// in its init, as plugins/plugins.go links in the providers.
package dest

import (
	_ "github.com/hookgate/hookgate/gateway/deliver/dest/kafka"       // kind: kafka
	_ "github.com/hookgate/hookgate/gateway/deliver/dest/nats"        // kind: nats (JetStream)
	_ "github.com/hookgate/hookgate/gateway/deliver/dest/redisstream" // kind: redis_stream
)
