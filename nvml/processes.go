package nvml

import (
	"cmp"
	"os"
	"slices"
	"strconv"
	"strings"
)

// sortProcesses orders processes largest first, those NVML could not size
// last, and equal ones by PID, so that every reader sees the same order.
func sortProcesses(ps []Process) {
	slices.SortFunc(ps, func(a, b Process) int {
		if a.MemoryKnown != b.MemoryKnown {
			if a.MemoryKnown {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.MemoryUsed, a.MemoryUsed), cmp.Compare(a.PID, b.PID))
	})
}

// procRoot is where processes' command names are read from.
const procRoot = "/proc"

// commandName is the command name of process pid as the kernel keeps it
// (/proc/PID/comm, at most 15 bytes), or "" where this process cannot see
// it: NVML reports the host's PIDs, which a container sees only with the
// host's PID namespace (hostPID in Kubernetes).
func commandName(root string, pid uint32) string {
	b, err := os.ReadFile(root + "/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
	if err != nil {
		return ""
	}
	name := strings.TrimSuffix(string(b), "\n")
	if controlCharsPattern.MatchString(name) || len(name) > 64 {
		return "" // not a comm file as the kernel writes it
	}
	// A program may name itself in any bytes; a label must be UTF-8.
	return strings.ToValidUTF8(name, "\uFFFD")
}
