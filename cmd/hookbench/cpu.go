package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// cpuUse is the CPU time each part of a run used over its measured phase.
// On a machine this small the parts share the cores, so a run's rate is
// bounded by their sum: this says which part to make cheaper.
type cpuUse struct {
	// Server is the gateway process (for the floor, its server).
	Server time.Duration `json:"server_ns"`
	// Redis is the Redis server's main process (INFO cpu): the store's,
	// or the floor's. Zero on the embedded store.
	Redis time.Duration `json:"redis_ns"`
	// Bench is this process: the load generator and the sinks.
	Bench time.Duration `json:"bench_ns"`
	Wall  time.Duration `json:"wall_ns"`
	// Per is what the figures per event divide by: accepted events (for
	// the floor, requests; for drain, deliveries).
	Per int `json:"per"`
}

// each is d per unit, in µs.
func (c *cpuUse) each(d time.Duration) float64 {
	if c == nil || c.Per == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(c.Per)
}

// busy is the share of the machine's cores the three parts kept busy.
func (c *cpuUse) busy(cores int) float64 {
	if c == nil || c.Wall <= 0 || cores <= 0 {
		return 0
	}
	return float64(c.Server+c.Redis+c.Bench) / float64(c.Wall) / float64(cores)
}

// cpuMeter measures a cpuUse from its start to stop.
type cpuMeter struct {
	server                  *proc
	redis                   *loadgen.Redis
	server0, redis0, bench0 time.Duration
	start                   time.Time
}

// startCPU starts measuring server, redis (nil for none) and this process.
func startCPU(server *proc, redis *loadgen.Redis) *cpuMeter {
	return &cpuMeter{server: server, redis: redis, server0: server.cpu(), redis0: redisCPU(redis),
		bench0: selfCPU(), start: time.Now()}
}

// stop ends the measure; per is the count the figures per event divide by.
func (m *cpuMeter) stop(per int) *cpuUse {
	c := &cpuUse{Server: m.server.cpu() - m.server0, Bench: selfCPU() - m.bench0, Wall: time.Since(m.start), Per: per}
	if m.redis != nil {
		c.Redis = redisCPU(m.redis) - m.redis0
	}
	if os.Getenv("HOOKBENCH_REDIS_CMDSTATS") != "" && m.redis != nil {
		// A tuning aid: the commands (scripts included) the phase cost
		// Redis, by count and time.
		if s, err := m.redis.Do("INFO", "commandstats"); err == nil {
			fmt.Fprint(os.Stderr, s)
		}
		_, _ = m.redis.Do("CONFIG", "RESETSTAT")
	}
	return c
}

// selfCPU is this process's CPU time so far, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the CPU time the Redis server has used (INFO cpu, user and
// system of the main process), or 0 when r is nil or cannot answer.
func redisCPU(r *loadgen.Redis) time.Duration {
	if r == nil {
		return 0
	}
	info, err := r.Do("INFO", "cpu")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += time.Duration(f * float64(time.Second))
		}
	}
	return total
}

// cpu is the CPU time the process has used (user and system), or 0 when
// it cannot be read.
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	d, _ := statCPU(string(b))
	return d
}

// statCPU reads utime + stime from a /proc/<pid>/stat line. The command
// name is in parentheses and may hold spaces and parentheses itself, so
// the fields are counted from its last ')': utime and stime are then the
// 12th and 13th, in clock ticks of 1/100 s (USER_HZ on Linux).
func statCPU(stat string) (time.Duration, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}
