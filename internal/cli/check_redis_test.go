package cli

import (
	"strings"
	"testing"
)

// TestCheckMinReplicas: `hookgate check` takes store.redis.min_replicas as
// auto or a count, and names the line and key of anything else.
func TestCheckMinReplicas(t *testing.T) {
	for _, tc := range []struct {
		value    string
		wantCode int
		wantErr  string
	}{
		{value: "auto", wantCode: exitOK},
		{value: "0", wantCode: exitOK},
		{value: "2", wantCode: exitOK},
		{value: "-1", wantCode: exitError, wantErr: ":4: store.redis.min_replicas: must be auto or a number of replicas >= 0\n"},
		{value: "all", wantCode: exitError, wantErr: ":4: store.redis.min_replicas: must be auto or a number of replicas >= 0\n"},
	} {
		path := writeConfig(t, "store:\n  redis:\n    url: redis://127.0.0.1:6379/0\n    min_replicas: "+tc.value+"\n"+validCheckConfig)
		_, stderr, code := check(t, "-config", path)
		if code != tc.wantCode || (tc.wantErr != "" && !strings.HasPrefix(stderr, path+tc.wantErr)) {
			t.Errorf("min_replicas: %s: exit %d, stderr:\n%s\nwant exit %d and %q", tc.value, code, stderr, tc.wantCode, tc.wantErr)
		}
	}
}
