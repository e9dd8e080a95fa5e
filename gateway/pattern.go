package gateway

import (
	"fmt"
	"sort"
	"strings"
)

// Pattern matches dot-separated event types: "*" matches exactly one
// segment, "**" any number of segments, zero included; other segments match
// themselves.
type Pattern struct {
	raw  string
	segs []string
}

// ParsePattern compiles an event pattern. Empty segments, and "*" used
// inside a segment ("product*"), are errors.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("empty pattern")
	}
	segs := strings.Split(s, ".")
	for _, seg := range segs {
		if seg == "" {
			return Pattern{}, fmt.Errorf("pattern %q has an empty segment", s)
		}
		if strings.Contains(seg, "*") && seg != "*" && seg != "**" {
			return Pattern{}, fmt.Errorf("pattern %q: %q must be a whole segment (* or **)", s, seg)
		}
	}
	return Pattern{raw: s, segs: segs}, nil
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// Match reports whether the event type typ matches p.
func (p Pattern) Match(typ string) bool {
	return matchSegs(p.segs, strings.Split(typ, "."))
}

func matchSegs(pat, typ []string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case "**":
			rest := pat[1:]
			for i := 0; i <= len(typ); i++ {
				if matchSegs(rest, typ[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(typ) == 0 {
				return false
			}
		default:
			if len(typ) == 0 || typ[0] != pat[0] {
				return false
			}
		}
		pat, typ = pat[1:], typ[1:]
	}
	return len(typ) == 0
}

// Routes returns, sorted, the names of the subscribers that an event of
// type typ from source reaches. Subscribers' Patterns must be compiled (a
// validated Config has them).
func (c *Config) Routes(source, typ string) []string {
	var out []string
	for name, sub := range c.Subscribers {
		if sub.Wants(source, typ) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Wants reports whether the subscriber takes events of type typ from source.
// The gateway's own events (OpSource) reach only a subscriber that names
// OpSource in its sources: "all sources" does not include them.
func (s *SubscriberConfig) Wants(source, typ string) bool {
	if len(s.Sources) == 0 && source == OpSource {
		return false
	}
	if len(s.Sources) > 0 {
		found := false
		for _, src := range s.Sources {
			if src == source {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, p := range s.Patterns {
		if p.Match(typ) {
			return true
		}
	}
	return false
}
