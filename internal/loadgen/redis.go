package loadgen

import "github.com/hookgate/hookgate/internal/redisproc"

// Redis is a redis-server this process started for one bench run, with the
// persistence an operator would run a gateway with (appendonly, fsync every
// second).
type Redis = redisproc.Server

// StartRedis runs redis-server from PATH with its socket, data and log in
// dir, and waits until it answers PING.
func StartRedis(dir string) (*Redis, error) { return redisproc.Start(dir, "everysec") }
