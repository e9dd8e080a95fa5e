package cli

import (
	"io/fs"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// memLimitShare is the part of the container's memory limit given to the
// Go runtime as its soft limit (GOMEMLIMIT): the rest is for what the
// runtime does not count and the kernel charges to the container all the
// same, the sockets' buffers above all.
const (
	memLimitShareNum = 9
	memLimitShareDen = 10
)

// unlimited is the value past which cgroup v1 means no limit
// (9223372036854771712, the largest multiple of the page size).
const unlimited = 1 << 62

// tuneMemoryLimit sets the Go runtime's soft memory limit to nine tenths
// of the container's memory limit (cgroup v2 memory.max, or v1
// memory.limit_in_bytes, the smallest along this process's cgroup and its
// parents), unless GOMEMLIMIT is set or there is no limit. It returns the
// limit it set, 0 for none. Without it the collector, at GOGC=200, lets
// the heap grow to three times what is live whatever the container
// allows, and a burst that the body budget bounds can still have the
// container killed for memory (issue 19 item 3). root is the file system
// at "/" (os.DirFS("/")).
func tuneMemoryLimit(getenv func(string) string, root fs.FS) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := containerMemoryLimit(root)
	if limit <= 0 {
		return 0
	}
	soft := limit / memLimitShareDen * memLimitShareNum
	debug.SetMemoryLimit(soft)
	return soft
}

// containerMemoryLimit is the memory limit of this process's cgroup: the
// smallest limit set on it or a parent, v2 and v1 alike; 0 for none.
func containerMemoryLimit(root fs.FS) int64 {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var found int64
	for _, line := range strings.Split(string(data), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = "sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			dir, file = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		// Inside a cgroup namespace the path is "/" and the files are at
		// the mount's root; outside, walk from the process's cgroup up.
		for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
			if n := readLimit(root, path.Join(dir, p, file)); n > 0 && (found == 0 || n < found) {
				found = n
			}
			if p == "/" {
				break
			}
		}
	}
	return found
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a cgroup memory limit file: a number of bytes, or "max"
// (v2) or a huge number (v1) for none, which are 0 like a missing file.
func readLimit(root fs.FS, name string) int64 {
	data, err := fs.ReadFile(root, name)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 || n >= unlimited {
		return 0
	}
	return n
}
