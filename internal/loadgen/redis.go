package loadgen

import "github.com/hookgate/hookgate/internal/redisproc"

// Redis is a redis-server this process started for one bench run, with the
// persistence an operator would run a gateway with (appendonly, fsync every
// second unless AppendFsync says otherwise).
type Redis = redisproc.Server

// RedisOption changes how StartRedis runs redis-server.
type RedisOption func(*redisOptions)

type redisOptions struct {
	fsync string
}

// AppendFsync sets the server's appendfsync policy: "everysec" (the
// default), "always" (every write fsynced before it is answered: the
// zero-loss setting the README gives) or "no".
func AppendFsync(policy string) RedisOption {
	return func(o *redisOptions) { o.fsync = policy }
}

// StartRedis runs redis-server from PATH with its socket, data and log in
// dir, append-only with appendfsync everysec unless an option says
// otherwise, and waits until it answers PING.
func StartRedis(dir string, opts ...RedisOption) (*Redis, error) {
	o := redisOptions{fsync: "everysec"}
	for _, opt := range opts {
		opt(&o)
	}
	return redisproc.Start(dir, o.fsync)
}
