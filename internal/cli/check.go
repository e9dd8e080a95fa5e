package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// runCheck is `hookgate check [-config PATH]`: it loads and validates the
// config as serve would, and prints what the gateway would do with it, so
// that an operator sees where events go before reloading. Every problem is
// printed, not just the first, each as file:line: key: message.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configPathFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookgate check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		var errs config.Errors
		if !errors.As(err, &errs) {
			fmt.Fprintf(stderr, "hookgate check: %v\n", err)
			return exitError
		}
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "%s: %d %s\n", *path, len(errs), plural(len(errs), "error", "errors"))
		return exitError
	}
	printCheck(stdout, cfg)
	return exitOK
}

// printCheck writes the sources, the subscribers and the routing table of
// a valid config. It prints no secret: only how many each source has.
func printCheck(w io.Writer, cfg *gateway.Config) {
	fmt.Fprintf(w, "%s: OK\n\n", cfg.Path)

	fmt.Fprintln(w, "sources:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tPROVIDER\tSECRETS\tINGEST")
	for _, name := range sortedNames(cfg.Sources) {
		src := cfg.Sources[name]
		fmt.Fprintf(tw, "  %s\t%s\t%d\tPOST /webhooks/%s\n", name, src.Provider, len(src.Secrets), name)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nsubscribers:")
	if len(cfg.Subscribers) == 0 {
		fmt.Fprintln(w, "  (none: events are stored but delivered nowhere)")
	}
	for _, name := range sortedNames(cfg.Subscribers) {
		sub := cfg.Subscribers[name]
		sources := "all"
		if len(sub.Sources) > 0 {
			sources = strings.Join(sub.Sources, ", ")
		}
		fmt.Fprintf(w, "  %s\n", name)
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintf(tw, "    url:\t%s\n", gateway.RedactURL(sub.URL))
		if sub.IsQueue() {
			fmt.Fprintf(tw, "    kind:\t%s\n", sub.Kind)
			if len(sub.Addrs) > 0 {
				fmt.Fprintf(tw, "    addrs:\t%s\n", strings.Join(sub.Addrs, ", "))
			}
			fmt.Fprintf(tw, "    topic:\t%s\n", sub.Topic)
		}
		fmt.Fprintf(tw, "    events:\t%s\n", strings.Join(sub.Events, ", "))
		fmt.Fprintf(tw, "    sources:\t%s\n", sources)
		fmt.Fprintf(tw, "    secrets:\t%d\n", len(sub.Secrets))
		if sub.CompiledFilter != nil {
			fmt.Fprintf(tw, "    filter:\t%s\n", oneLine(sub.Filter))
		}
		if sub.CompiledTransform != nil {
			fmt.Fprintf(tw, "    transform:\t%s\n", oneLine(sub.Transform))
		}
		if sub.Ordering == gateway.OrderingSubject {
			fmt.Fprintf(tw, "    ordering:\tsubject (one at a time per subject, in receipt order)\n")
		}
		if sub.RateLimit.Limited() {
			fmt.Fprintf(tw, "    rate limit:\t%s\n", sub.RateLimit)
		}
		if sub.Backfill > 0 {
			fmt.Fprintf(tw, "    backfill:\t%s (when the name first appears in the store)\n", sub.Backfill)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nroutes (event type -> subscribers):")
	for _, name := range sortedNames(cfg.Sources) {
		printRoutes(w, cfg, name)
	}
	printOpRoutes(w, cfg)
	for _, sub := range cfg.Subscribers {
		if sub.CompiledFilter != nil {
			fmt.Fprintf(w, "  %s: only the events its filter passes (see subscribers)\n", filteredMark)
			break
		}
	}

	warnings := append(devSecretWarnings(cfg), adminTLSWarnings(cfg)...)
	if warnings = append(warnings, patternWarnings(cfg)...); len(warnings) > 0 {
		fmt.Fprintln(w, "\nwarnings:")
		for _, warning := range warnings {
			fmt.Fprintf(w, "  %s\n", warning)
		}
	}
}

// patternWarnings names the event patterns that match none of the
// documented types of the sources their subscriber takes: most likely a
// typo ("iimmpact.products.*"), which would otherwise route nothing,
// silently. Patterns are only judged when every such source's provider
// lists its types; undocumented types still pass through, so these are
// warnings, not errors.
func patternWarnings(cfg *gateway.Config) []string {
	var out []string
	for _, name := range sortedNames(cfg.Subscribers) {
		sub := cfg.Subscribers[name]
		var types []string
		judged := true
		for _, src := range sortedNames(cfg.Sources) {
			if !takesSource(sub, src) {
				continue
			}
			p, err := gateway.LookupProvider(cfg.Sources[src].Provider)
			sampler, ok := p.(gateway.Sampler)
			if err != nil || !ok {
				judged = false
				break
			}
			types = append(types, sampler.KnownTypes()...)
		}
		if slices.Contains(sub.Sources, gateway.OpSource) {
			types = append(types, gateway.OpTypes()...)
		}
		if !judged {
			continue
		}
		for i, pat := range sub.Patterns {
			if !slices.ContainsFunc(types, pat.Match) {
				out = append(out, fmt.Sprintf("subscribers.%s.events[%d]: %q matches no documented event type of its sources", name, i, pat))
			}
		}
	}
	return out
}

// printRoutes lists, for each envelope type the source's provider
// documents, the subscribers it reaches. Providers that document none get
// the subscribers that take the source, with their patterns.
func printRoutes(w io.Writer, cfg *gateway.Config, source string) {
	provider := cfg.Sources[source].Provider
	fmt.Fprintf(w, "  %s (%s):\n", source, provider)
	p, err := gateway.LookupProvider(provider)
	sampler, ok := p.(gateway.Sampler)
	if err != nil || !ok {
		fmt.Fprintln(w, "    (the provider lists no event types; by pattern:)")
		any := false
		for _, name := range sortedNames(cfg.Subscribers) {
			sub := cfg.Subscribers[name]
			if takesSource(sub, source) {
				fmt.Fprintf(w, "    %s -> %s\n", strings.Join(sub.Events, ", "), routeNames(cfg, []string{name}))
				any = true
			}
		}
		if !any {
			fmt.Fprintln(w, "    -> (none)")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, typ := range sampler.KnownTypes() {
		subs := cfg.Routes(source, typ)
		to := "(none)"
		if len(subs) > 0 {
			to = routeNames(cfg, subs)
		}
		fmt.Fprintf(tw, "    %s\t-> %s\n", typ, to)
	}
	tw.Flush()
}

// printOpRoutes lists the gateway's own event types and the subscribers
// they reach, when a subscriber names hookgate in its sources; nothing
// otherwise (they are then not even raised).
func printOpRoutes(w io.Writer, cfg *gateway.Config) {
	wanted := false
	for _, sub := range cfg.Subscribers {
		wanted = wanted || slices.Contains(sub.Sources, gateway.OpSource)
	}
	if !wanted {
		return
	}
	fmt.Fprintf(w, "  %s (the gateway's own events):\n", gateway.OpSource)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, typ := range gateway.OpTypes() {
		to := "(none)"
		if subs := cfg.Routes(gateway.OpSource, typ); len(subs) > 0 {
			to = routeNames(cfg, subs)
		}
		fmt.Fprintf(tw, "    %s\t-> %s\n", typ, to)
	}
	tw.Flush()
}

// filteredMark follows, in the routing table, a subscriber with a filter.
const filteredMark = "(filter)"

// routeNames lists subscriber names for the routing table, marking those
// whose filter decides, event by event, whether they get it.
func routeNames(cfg *gateway.Config, names []string) string {
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = name
		if sub := cfg.Subscribers[name]; sub != nil && sub.CompiledFilter != nil {
			out[i] += " " + filteredMark
		}
	}
	return strings.Join(out, ", ")
}

// oneLine shows an expression written over several lines (a YAML block)
// on one: its lines trimmed and joined by a space.
func oneLine(expr string) string {
	lines := strings.Split(strings.TrimSpace(expr), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " ")
}

// takesSource reports whether sub receives any events from source.
func takesSource(sub *gateway.SubscriberConfig, source string) bool {
	if len(sub.Sources) == 0 {
		return true
	}
	for _, s := range sub.Sources {
		if s == source {
			return true
		}
	}
	return false
}

func sortedNames[T any](m map[string]T) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
