// Package config loads config.yaml into the gateway's configuration types
// (gateway.Config and the blocks it holds): ${VAR} expansion from the
// environment, defaults, a strict decode that walks the YAML nodes itself,
// and validation, which also fills the derived fields the domain runs on
// (names, signing keys, compiled patterns and filters).
//
// Every problem is reported at once, as Errors, each placed by file, line
// and key ("config.yaml:14: subscribers.search-indexer.timeout: must be >
// 0") and never quoting a secret's value. Load and Parse serve `hookgate
// check`, `serve` and every reload alike.
//
// It is the only part of hookgate's domain that knows YAML: package
// gateway holds the types and no YAML library, as caddy keeps its config
// adapters in caddyconfig apart from the modules they configure. This
// package imports gateway, never the reverse.
package config
