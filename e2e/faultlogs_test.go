package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What a failed fault test leaves behind: the story of a lost event is in
// the gateway's log and in the servers' and sentinels' logs, which go with
// their temporary directories otherwise. They are copied to
// $HOOKGATE_ARTIFACTS/faults/<test>/ (default e2e/artifacts/faults/).

// keepLog copies the log file at path into the failed test's artifacts as
// name once the test is over (before the directories holding it are
// removed: cleanups run last registered, first).
func keepLog(t *testing.T, name, path string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Logf("keep %s: %v", name, err)
			return
		}
		saveArtifact(t, name, b)
	})
}

// saveArtifact writes b to the test's artifacts directory as name.
func saveArtifact(t *testing.T, name string, b []byte) {
	root := os.Getenv("HOOKGATE_ARTIFACTS")
	if root == "" {
		root = "artifacts"
	}
	dir := filepath.Join(root, "faults", strings.NewReplacer("/", "_", " ", "_", "+", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Logf("artifacts: %v", err)
		return
	}
	t.Logf("kept %s in %s", name, dir)
}
