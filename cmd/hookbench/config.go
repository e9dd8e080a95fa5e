package main

import (
	"fmt"
	"strings"
)

// benchConfig is what goes into the gateway's config.yaml for one run.
type benchConfig struct {
	Listen, AdminListen string
	AdminToken          string // hookbench pauses and resumes subscribers with it
	StorePath           string // embedded store directory; used without RedisURL
	RedisURL            string // set: the Redis store
	IimmpactSecret      string
	Catalog360Secret    string
	Subscribers         []subscriber
	MaxInFlight         int // 0: the gateway's default
}

// subscriber is one sink as the config names it.
type subscriber struct {
	Name, URL, Secret string
}

// yaml renders c in the SPEC section 2 format. Every value is a quoted
// scalar (Go's %q is valid YAML for the ASCII we write), so no secret or
// path can change the document's shape.
func (c benchConfig) yaml() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by hookbench for one run\n")
	// The load generator stands for every provider at once from one
	// address, as a front proxy would: no per-client share (it is meant
	// for one client among many, and -c may pass 256 connections).
	fmt.Fprintf(&b, "server:\n  listen: %q\n  max_body: 5MB\n  max_conns_per_client: 0\n  max_pending_bytes_per_client: 0\n", c.Listen)
	fmt.Fprintf(&b, "admin:\n  listen: %q\n  token: %q\n", c.AdminListen, c.AdminToken)
	fmt.Fprintf(&b, "store:\n")
	if c.RedisURL != "" {
		fmt.Fprintf(&b, "  redis:\n    url: %q\n    prefix: \"hookbench\"\n", c.RedisURL)
	} else {
		fmt.Fprintf(&b, "  path: %q\n", c.StorePath)
	}
	fmt.Fprintf(&b, "sources:\n")
	fmt.Fprintf(&b, "  iimmpact:\n    provider: iimmpact\n    secrets: [%q]\n", c.IimmpactSecret)
	fmt.Fprintf(&b, "  catalog360:\n    provider: catalog360\n    secrets: [%q]\n", c.Catalog360Secret)
	fmt.Fprintf(&b, "subscribers:\n")
	for _, s := range c.Subscribers {
		fmt.Fprintf(&b, "  %s:\n    url: %q\n    secret: %q\n", s.Name, s.URL, s.Secret)
		if c.MaxInFlight > 0 {
			fmt.Fprintf(&b, "    max_in_flight: %d\n", c.MaxInFlight)
		}
	}
	return []byte(b.String())
}
