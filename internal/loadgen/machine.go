package loadgen

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// Machine is what a reader needs to know to weigh a bench figure.
type Machine struct {
	Cores      int    `json:"cores"`
	CPU        string `json:"cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	OS         string `json:"os"`
	Go         string `json:"go"`
}

// ThisMachine describes the machine the bench runs on.
func ThisMachine() Machine {
	return Machine{
		Cores:      runtime.NumCPU(),
		CPU:        cpuModel("/proc/cpuinfo"),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		Go:         runtime.Version(),
	}
}

// cpuModel reads the first "model name" of a /proc/cpuinfo file, or
// "unknown".
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
