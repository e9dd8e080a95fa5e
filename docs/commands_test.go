package docs

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/internal/cli"
)

// TestMakeTargets: every `make TARGET` the README and the docs name, in
// code spans or in shell blocks, is a target of the Makefile, so that a
// command the docs give runs as written.
func TestMakeTargets(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range makeTarget.FindAllStringSubmatch(string(raw), -1) {
		targets[m[1]] = true
	}
	for _, want := range []string{"run", "test"} {
		if !targets[want] {
			t.Fatalf("the Makefile has no %s target; targets: %v", want, targets)
		}
	}
	pages := readPages(t)
	named := 0
	for _, name := range slices.Sorted(maps.Keys(pages)) {
		text, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		prose, code := splitFences(string(text))
		found := append(makeInSpan.FindAllStringSubmatch(prose, -1), makeInBlock.FindAllStringSubmatch(code, -1)...)
		for _, m := range found {
			named++
			if !targets[m[1]] {
				t.Errorf("%s names `make %s`, which is not a Makefile target", name, m[1])
			}
		}
	}
	if named == 0 {
		t.Error("no page names a make command; the pattern is wrong")
	}
}

// TestHookgateCommands: every `hookgate COMMAND` the README and the docs
// name, in code spans or in shell blocks, is a command of the binary (its
// usage text), and the README names every command there is.
func TestHookgateCommands(t *testing.T) {
	var usage, errs bytes.Buffer
	if code := cli.Main([]string{"help"}, &usage, &errs); code != 0 {
		t.Fatalf("hookgate help: exit %d: %s", code, errs.String())
	}
	commands := map[string]bool{}
	for _, m := range usageCommand.FindAllStringSubmatch(usage.String(), -1) {
		commands[m[1]] = true
	}
	if !commands["serve"] || !commands["check"] {
		t.Fatalf("the usage text names %v, want serve and check among them:\n%s", commands, usage.String())
	}
	pages := readPages(t)
	for _, name := range slices.Sorted(maps.Keys(pages)) {
		text, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		prose, code := splitFences(string(text))
		found := append(hookgateInSpan.FindAllStringSubmatch(prose, -1), hookgateInBlock.FindAllStringSubmatch(code, -1)...)
		for _, m := range found {
			if !commands[m[1]] {
				t.Errorf("%s names `hookgate %s`, which is not a command (hookgate help)", name, m[1])
			}
		}
		if name == "README.md" {
			for _, cmd := range slices.Sorted(maps.Keys(commands)) {
				if !strings.Contains(prose, "`hookgate "+cmd) && !strings.Contains(prose, "`hookgate ["+cmd+"]") {
					t.Errorf("README.md does not name `hookgate %s`", cmd)
				}
			}
		}
	}
}

var (
	// usageCommand is a command in the usage text: "  hookgate check ..."
	// or "  hookgate [serve] ...".
	usageCommand = regexp.MustCompile(`(?m)^\s+hookgate \[?([a-z][a-z-]*)`)
	// hookgateInSpan is hookgate, or bin/hookgate, and a command at the
	// start of a code span.
	hookgateInSpan = regexp.MustCompile("`(?:\\./)?(?:bin/)?hookgate\\s+([a-z][a-z-]*)")
	// hookgateInBlock is the same at the start of a line of a fenced block.
	hookgateInBlock = regexp.MustCompile(`(?m)^\s*(?:\./)?(?:bin/)?hookgate\s+([a-z][a-z-]*)`)
	makeTarget      = regexp.MustCompile(`(?m)^([a-z][a-z0-9_-]*):`)
	// makeInSpan is make at the start of a code span (which may wrap).
	makeInSpan = regexp.MustCompile("`make\\s+([a-z][a-z0-9_-]*)")
	// makeInBlock is make at the start of a line of a fenced block.
	makeInBlock = regexp.MustCompile(`(?m)^\s*make\s+([a-z][a-z0-9_-]*)`)
)

// splitFences returns the text outside fenced code blocks and the text
// inside them, each as lines joined by newlines.
func splitFences(text string) (prose, code string) {
	var out, in []string
	fence := ""
	for _, line := range strings.Split(text, "\n") {
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			if fence == "" {
				fence = m[1]
				continue
			}
			if strings.TrimSpace(line) == m[1] && strings.HasPrefix(m[1], fence[:1]) && len(m[1]) >= len(fence) {
				fence = ""
				continue
			}
		}
		if fence != "" {
			in = append(in, line)
		} else {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n"), strings.Join(in, "\n")
}
