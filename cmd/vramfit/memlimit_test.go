package main

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCgroupMemoryLimit(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		limit int64
		ok    bool
	}{
		{"v2, systemd service", map[string]string{
			"proc/self/cgroup": "0::/system.slice/vramfit.service\n",
			"sys/fs/cgroup/system.slice/vramfit.service/memory.max": "268435456\n",
		}, 268435456, true},
		{"v2, container: its cgroup is the root", map[string]string{
			"proc/self/cgroup":         "0::/kubepods/burstable/pod1/abc\n",
			"sys/fs/cgroup/memory.max": "268435456\n",
		}, 268435456, true},
		{"v2, no limit", map[string]string{
			"proc/self/cgroup":         "0::/user.slice\n",
			"sys/fs/cgroup/memory.max": "max\n",
		}, 0, false},
		{"v1", map[string]string{
			"proc/self/cgroup": "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "104857600\n",
		}, 104857600, true},
		{"v1, no limit", map[string]string{
			"proc/self/cgroup":                           "11:memory:/\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0, false},
		{"no cgroup file", map[string]string{}, 0, false},
		{"garbage", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "lots\n",
		}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, ok := cgroupMemoryLimit(fileTree(t, tt.files))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.limit, limit)
		})
	}
}

// fileTree writes files (path: content) under a new directory.
func fileTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	return root
}

// The Go runtime gets 80% of the cgroup's limit, unless GOMEMLIMIT says
// otherwise.
func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	root := fileTree(t, map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "268435456\n"})
	logger := slog.New(slog.DiscardHandler)

	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(math.MaxInt64)
	setMemoryLimit(root, logger)
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "GOMEMLIMIT wins")

	t.Setenv("GOMEMLIMIT", "")
	setMemoryLimit(root, logger)
	cgroup := 268435456.0
	assert.Equal(t, int64(cgroup*memoryLimitShare), debug.SetMemoryLimit(-1))
}
