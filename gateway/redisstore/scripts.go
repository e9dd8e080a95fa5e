package redisstore

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

// The Lua sources live in lua/ so they read as Lua; each script is
// common.lua (key helpers, status bookkeeping) followed by its own body.
//
//go:embed lua/*.lua
var luaFS embed.FS

func lua(names ...string) *redis.Script {
	src := mustRead("common.lua")
	for _, n := range names {
		src += "\n" + mustRead(n)
	}
	return redis.NewScript(src)
}

func mustRead(name string) string {
	b, err := luaFS.ReadFile("lua/" + name)
	if err != nil {
		panic("redisstore: " + err.Error())
	}
	return string(b)
}

// Every multi-key write is one of these scripts, so it is atomic. Run
// sends EVALSHA and falls back to EVAL when Redis lost its script cache
// (after a restart).
var (
	putScript           = lua("put.lua")
	dupsScript          = lua("dups.lua")
	claimScript         = lua("claim.lua")
	peekScript          = lua("peek.lua")
	rateLimitScript     = lua("ratelimit.lua")
	recordScript        = lua("record.lua")
	releaseScript       = lua("release.lua")
	eventScript         = lua("event.lua")
	listScript          = lua("list.lua")
	deadScript          = lua("dead.lua")
	redeliverScript     = lua("redeliver.lua", "redeliver_one.lua")
	redeliverDeadScript = lua("redeliver.lua", "redeliver_dead.lua")
	sweepSubScript      = lua("sweep_sub.lua")
	sweepEventsScript   = lua("sweep_events.lua")
	purgeScript         = lua("purge.lua")
	subscribersScript   = lua("subscribers.lua")
	statsScript         = lua("stats.lua")
	recountScript       = lua("recount.lua")
)
