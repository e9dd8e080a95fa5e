// Package docs holds hookgate's task pages; its tests keep their links,
// and the commands they name, honest. It has no Go code of its own.
package docs

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, seen from this package's directory.
const root = ".."

// mdPage is one Markdown file: the anchors its headings make and the
// relative links it holds, both outside fenced code.
type mdPage struct {
	anchors map[string]bool
	links   []mdLink
}

// mdLink is one link target and the line it is on.
type mdLink struct {
	line   int
	target string
}

// TestLinks: every relative link in README.md and in docs/ names a file
// that exists, and every #anchor names a heading of its page, so that a
// section moved to another page cannot leave a link behind it.
func TestLinks(t *testing.T) {
	pages := readPages(t)
	for _, name := range slices.Sorted(maps.Keys(pages)) {
		for _, l := range pages[name].links {
			if msg := resolve(pages, name, l.target); msg != "" {
				t.Errorf("%s:%d: link %s: %s", name, l.line, l.target, msg)
			}
		}
	}
}

// TestEveryPageReachable: every Markdown page under docs/ can be reached
// from the README by following links.
func TestEveryPageReachable(t *testing.T) {
	pages := readPages(t)
	seen := map[string]bool{"README.md": true}
	queue := []string{"README.md"}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		for _, l := range pages[name].links {
			file, _, _ := strings.Cut(l.target, "#")
			if file == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			next := filepath.ToSlash(filepath.Join(filepath.Dir(name), file))
			if _, ok := pages[next]; ok && !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(pages)) {
		if !seen[name] {
			t.Errorf("%s is not reachable from README.md by links", name)
		}
	}
}

// resolve returns why target, a link in page from, does not resolve, or
// "" when it does.
func resolve(pages map[string]*mdPage, from, target string) string {
	if scheme.MatchString(target) {
		return "" // http:, https:, mailto: and the like are not checked
	}
	file, anchor, _ := strings.Cut(target, "#")
	to := from
	if file != "" {
		to = filepath.ToSlash(filepath.Join(filepath.Dir(from), file))
		if strings.HasPrefix(to, "../") {
			return "points outside the repository"
		}
		if _, err := os.Stat(filepath.Join(root, to)); err != nil {
			return "no such file " + to
		}
	}
	if anchor == "" {
		return ""
	}
	p, ok := pages[to]
	if !ok {
		return "an anchor into " + to + ", which is not a Markdown page"
	}
	if !p.anchors[anchor] {
		return "no heading of " + to + " makes the anchor #" + anchor
	}
	return ""
}

var (
	scheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	linkRE   = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	heading  = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	fenceRE  = regexp.MustCompile("^ {0,3}(```+|~~~+)")
	inlineLn = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// readPages reads README.md and every .md file under docs/, keyed by
// their path from the repository root.
func readPages(t *testing.T) map[string]*mdPage {
	t.Helper()
	names := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]*mdPage{}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		pages[name] = parsePage(string(data))
	}
	return pages
}

// parsePage finds the headings and links of a Markdown text, skipping
// fenced code blocks and inline code spans.
func parsePage(text string) *mdPage {
	p := &mdPage{anchors: map[string]bool{}}
	used := map[string]int{}
	fence := ""
	for i, line := range strings.Split(text, "\n") {
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence = m[1]
				continue
			case strings.HasPrefix(m[1], fence[:1]) && len(m[1]) >= len(fence) && strings.TrimSpace(line) == m[1]:
				fence = ""
				continue
			}
		}
		if fence != "" {
			continue
		}
		plain := stripCode(line, false)
		if m := heading.FindStringSubmatch(line); m != nil {
			slug := slugify(stripCode(m[2], true))
			if n := used[slug]; n > 0 {
				p.anchors[slug+"-"+strconv.Itoa(n)] = true
			} else {
				p.anchors[slug] = true
			}
			used[slug]++
		}
		for _, m := range linkRE.FindAllStringSubmatch(plain, -1) {
			p.links = append(p.links, mdLink{line: i + 1, target: m[1]})
		}
	}
	return p
}

// stripCode removes inline code spans from s: with keep, their content
// stays (as GitHub does for a heading's anchor), else it becomes "x", so
// that what looks like a link inside code is not taken for one.
func stripCode(s string, keep bool) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		n := 0
		for i+n < len(s) && s[i+n] == '`' {
			n++
		}
		ticks := s[i : i+n]
		rest := s[i+n:]
		end := strings.Index(rest, ticks)
		if end < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		if keep {
			b.WriteString(rest[:end])
		} else {
			b.WriteString("x")
		}
		s = rest[end+n:]
	}
}

// slugify makes GitHub's anchor for a heading's text: links reduced to
// their text, lower case, punctuation other than - and _ dropped, spaces
// made hyphens.
func slugify(s string) string {
	s = inlineLn.ReplaceAllString(s, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestSlugify: the anchors GitHub makes of headings like ours.
func TestSlugify(t *testing.T) {
	for _, tt := range []struct{ heading, want string }{
		{"Running at the edge", "running-at-the-edge"},
		{"Quick start: the first five minutes", "quick-start-the-first-five-minutes"},
		{"Behind a reverse proxy", "behind-a-reverse-proxy"},
		{"`max_event_age` and replays", "max_event_age-and-replays"},
		{"Redis, Sentinel & Cluster", "redis-sentinel--cluster"},
		{"See [Metrics](metrics.md)", "see-metrics"},
	} {
		if got := slugify(stripCode(tt.heading, true)); got != tt.want {
			t.Errorf("slugify(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

// TestParsePage: headings and links inside fenced code or code spans are
// not taken; a repeated heading gets GitHub's -1 suffix.
func TestParsePage(t *testing.T) {
	p := parsePage("# A\n\n```sh\n# not a heading\n[x](nolink.md)\n```\n\n## A\nsee [b](b.md#c) and `[y](nolink2.md)`\n")
	for _, want := range []string{"a", "a-1"} {
		if !p.anchors[want] {
			t.Errorf("anchors = %v, want %s", p.anchors, want)
		}
	}
	if p.anchors["not-a-heading"] {
		t.Errorf("a comment in a code block made an anchor")
	}
	if len(p.links) != 1 || p.links[0].target != "b.md#c" || p.links[0].line != 9 {
		t.Errorf("links = %+v, want only b.md#c on line 9", p.links)
	}
}
