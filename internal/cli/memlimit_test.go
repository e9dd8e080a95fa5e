package cli

import (
	"math"
	"runtime/debug"
	"testing"
	"testing/fstest"
)

func TestContainerMemoryLimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name string
		fs   fstest.MapFS
		want int64
	}{
		{"v2 in a cgroup namespace", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("268435456\n"),
		}, 256 << 20},
		{"v2 no limit", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, 0},
		{"v2 nested: the smallest along the path", fstest.MapFS{
			"proc/self/cgroup":                          file("0::/kubepods/pod1/c1\n"),
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": file("max\n"),
			"sys/fs/cgroup/kubepods/pod1/memory.max":    file("536870912\n"),
			"sys/fs/cgroup/kubepods/memory.max":         file("1073741824\n"),
		}, 512 << 20},
		{"v1", fstest.MapFS{
			"proc/self/cgroup": file("9:name=systemd:/\n4:memory:/docker/abc\n0::/\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("134217728\n"),
		}, 128 << 20},
		{"v1 unlimited", fstest.MapFS{
			"proc/self/cgroup":                           file("4:cpu,memory:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, 0},
		{"no cgroup file", fstest.MapFS{}, 0},
	}
	for _, tt := range tests {
		if got := containerMemoryLimit(tt.fs); got != tt.want {
			t.Errorf("%s: containerMemoryLimit = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTuneMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	fs := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("268435456\n")},
	}
	if got := tuneMemoryLimit(func(k string) string { return map[string]string{"GOMEMLIMIT": "100MiB"}[k] }, fs); got != 0 {
		t.Errorf("with GOMEMLIMIT set: tuneMemoryLimit = %d, want 0 (the operator's value stands)", got)
	}
	if now := debug.SetMemoryLimit(-1); now != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set: limit = %d, want it left alone", now)
	}
	want := int64(268435456) / 10 * 9
	if got := tuneMemoryLimit(func(string) string { return "" }, fs); got != want {
		t.Errorf("256MB container: tuneMemoryLimit = %d, want %d", got, want)
	}
	if now := debug.SetMemoryLimit(-1); now != want {
		t.Errorf("256MB container: limit = %d, want %d", now, want)
	}
}
