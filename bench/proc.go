// Package bench measures kioskd against the targets of docs/BEHAVIOUR.md section 14:
// process start to Connected, controlDisconnected to Connected again,
// steady CPU and memory beside libvpx alone, and 1000 reconnect cycles.
// The harness is bench/cmd/kioskbench (`make bench`, `make bench-quick`);
// this package holds what it needs: /proc readers, statistics, a kioskd
// process driver and the report.
package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux ABI kioskd runs on (amd64, arm64, arm).
const clockTick = 100

// CPUTime is utime+stime of pid (fields 14 and 15 of /proc/PID/stat).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime+stime from a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces or ')': fields are
// counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bench: /proc stat without ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': field 3 (state) is f[0], so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat has %d fields after the name", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("bench: /proc stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// Memory is a process's resident memory, from /proc/PID/smaps_rollup.
type Memory struct {
	RSS     int64 `json:"rss_bytes"`
	PSS     int64 `json:"pss_bytes"`
	PSSAnon int64 `json:"pss_anon_bytes"`
	PSSFile int64 `json:"pss_file_bytes"`
}

// ReadMemory reads RSS and PSS of pid.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseRollup(b)
}

func parseRollup(b []byte) (Memory, error) {
	var m Memory
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Rss:":
			m.RSS, found = kb<<10, found+1
		case "Pss:":
			m.PSS, found = kb<<10, found+1
		case "Pss_Anon:":
			m.PSSAnon = kb << 10
		case "Pss_File:":
			m.PSSFile = kb << 10
		}
	}
	if found < 2 {
		return m, errors.New("bench: smaps_rollup without Rss and Pss")
	}
	return m, nil
}

// OpenFDs counts the open file descriptors of pid.
func OpenFDs(pid int) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(es), nil
}

// Threads is the number of OS threads of pid.
func Threads(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("bench: no Threads in status")
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUModel  string    `json:"cpu_model"`
	Cores     int       `json:"cores"`
	Kernel    string    `json:"kernel"`
	GoVersion string    `json:"go_version"`
	LoadStart string    `json:"loadavg_start"`
	LoadEnd   string    `json:"loadavg_end,omitempty"`
	Date      time.Time `json:"date"`
}

// ReadMachine describes this machine.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC().Truncate(time.Second)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if m.CPUModel == "" {
		m.CPUModel = runtime.GOARCH
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadStart = LoadAvg()
	return m
}

// LoadAvg is the first three fields of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Stats summarises durations.
type Stats struct {
	N      int     `json:"n"`
	Median float64 `json:"median_ms"`
	P95    float64 `json:"p95_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
	Mean   float64 `json:"mean_ms"`
}

// Summarise computes the statistics of ds in milliseconds. The median
// interpolates between the middle two; p95 is the nearest rank.
func Summarise(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	ms := make([]float64, len(ds))
	sum := 0.0
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
		sum += ms[i]
	}
	sort.Float64s(ms)
	n := len(ms)
	med := ms[n/2]
	if n%2 == 0 {
		med = (ms[n/2-1] + ms[n/2]) / 2
	}
	rank := (95*n + 99) / 100 // ceil(0.95 n)
	return Stats{N: n, Median: round2(med), P95: round2(ms[rank-1]), Min: round2(ms[0]), Max: round2(ms[n-1]), Mean: round2(sum / float64(n))}
}

func round2(v float64) float64 {
	return float64(int64(v*100+0.5)) / 100
}
