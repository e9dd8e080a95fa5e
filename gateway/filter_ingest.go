package gateway

import (
	"fmt"
	"strings"
	"time"
)

// ingestFilter is one subscriber's filter as ingest runs it, with the
// limiter of its error log: a filter that fails on every event must not
// write a line per event.
type ingestFilter struct {
	f   Filter
	log logEvery
}

// ingestFilters returns the filters of cfg's subscribers, compiling any a
// Config built in code left uncompiled; nil when no subscriber has one.
func ingestFilters(cfg *Config) (map[string]*ingestFilter, error) {
	var out map[string]*ingestFilter
	for name, sub := range cfg.Subscribers {
		if sub == nil || BlankFilter(sub.Filter) {
			continue
		}
		f := sub.CompiledFilter
		if f == nil {
			var err error
			if f, err = compileFilter(sub.Filter); err != nil {
				return nil, fmt.Errorf("subscriber %s: filter: %w", name, err)
			}
		}
		if out == nil {
			out = map[string]*ingestFilter{}
		}
		out[name] = &ingestFilter{f: f}
	}
	return out, nil
}

// BlankFilter reports whether expr means no filter: `filter: ""`, or a
// filter line left with only spaces.
func BlankFilter(expr string) bool { return strings.TrimSpace(expr) == "" }

// filter returns the subscribers of routed (the names the patterns chose)
// whose filters pass env: routed itself when all do, else a new slice, as
// routed is shared with the route cache. The envelope is prepared for
// filters once, when the first subscriber with a filter is met. A filter
// error counts as not passing, and is reported to the observer
// (FilterError) and logged at most once a minute per subscriber.
func (in *Ingester) filter(snap *ingestSnapshot, routed []string, env Envelope) []string {
	var input *FilterInput
	var kept []string // nil until a subscriber is filtered out
	for i, name := range routed {
		pass := true
		if f := snap.filters[name]; f != nil {
			if input == nil {
				input = NewFilterInput(env)
			}
			var err error
			if pass, err = f.f.Match(input); err != nil {
				in.FilterError(name)
				if n, ok := f.log.allow(in.now(), time.Minute); ok {
					in.log.Warn("filter error: event not delivered to the subscriber",
						"subscriber", name, "event", env.ID, "type", env.Type, "error", err, "unlogged", n)
				}
			}
		}
		switch {
		case !pass && kept == nil:
			kept = make([]string, i, len(routed))
			copy(kept, routed[:i])
		case pass && kept != nil:
			kept = append(kept, name)
		}
	}
	if kept == nil {
		return routed
	}
	return kept
}
