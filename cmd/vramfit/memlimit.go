package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the share of its cgroup's memory limit that the agent
// gives the Go runtime as a soft limit: near it the garbage collector runs
// more often, so that bursts of garbage (a scrape of 10,000 targets, a
// reload) are collected before the kernel kills the agent. The rest is for
// what the runtime does not count (the binary, thread stacks outside Go).
const memoryLimitShare = 0.8

// setMemoryLimit sets the Go runtime's soft memory limit from the cgroup
// the process runs in, unless GOMEMLIMIT already sets one or there is no
// limit. root is "/" but in tests.
func setMemoryLimit(root string, logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit, ok := cgroupMemoryLimit(root)
	if !ok {
		return
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	logger.Info("Go memory limit set from the cgroup's", "cgroup_limit_bytes", limit, "go_limit_bytes", soft)
}

// cgroupMemoryLimit reads the memory limit of the process's cgroup: v2's
// memory.max, or v1's memory.limit_in_bytes. ok is false when there is no
// limit or it cannot be read.
func cgroupMemoryLimit(root string) (limit int64, ok bool) {
	data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0, false
	}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		// hierarchy-ID:controllers:path; v2 has ID 0 and no controllers.
		fields := strings.SplitN(scanner.Text(), ":", 3)
		if len(fields) != 3 {
			continue
		}
		var files []string
		switch {
		case fields[0] == "0" && fields[1] == "":
			files = []string{filepath.Join("sys/fs/cgroup", fields[2], "memory.max"), "sys/fs/cgroup/memory.max"}
		case strings.Contains(","+fields[1]+",", ",memory,"):
			files = []string{filepath.Join("sys/fs/cgroup/memory", fields[2], "memory.limit_in_bytes"),
				"sys/fs/cgroup/memory/memory.limit_in_bytes"}
		default:
			continue
		}
		// Inside a container the cgroup's own directory is mounted as the
		// root of the hierarchy: its path from /proc does not exist there.
		for _, f := range files {
			if limit, ok := readLimit(filepath.Join(root, f)); ok {
				return limit, true
			}
		}
	}
	return 0, false
}

// readLimit reads a cgroup memory limit file: "max" (v2) or a count of
// bytes close to 2^63 (v1) mean no limit.
func readLimit(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
