package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/collector/podresources/podresourcestest"
	"github.com/vramfit/vramfit/nvml"
)

// Off by default; on, /metrics has the holders of the fake fleet's GPUs
// and the kubelet's allocations, from the real gRPC API.
func TestServeHolders(t *testing.T) {
	off := get(t, testMux(t, testServeFlags(), "dgx-h100", exampleTargets), http.MethodGet, "/metrics").Body.String()
	assert.NotContains(t, off, "vramfit_gpu_process_memory_used_bytes")
	assert.NotContains(t, off, "vramfit_gpu_allocation_info")
	assert.NotContains(t, off, `collector="processes"`)

	kubelet := podresourcestest.Start(t)
	kubelet.SetPods(podresourcestest.Pod("ml", "vllm-0", "nvidia.com/gpu", map[string][]string{
		"server": {"GPU-00000000-0000-0000-0000-000000000000"},
	}))
	f := testServeFlags()
	f.holders = holderFlags{processes: true, processesTop: 10, pods: true, kubeletSocket: kubelet.Socket}
	on := get(t, testMux(t, f, "mig-a100", exampleTargets), http.MethodGet, "/metrics").Body.String()
	for _, line := range []string{
		`vramfit_gpu_process_memory_used_bytes{gpu="1",pid="7020",process="python3",uuid="`,
		`vramfit_gpu_allocation_info{container="server",gpu="",namespace="ml",pod="vllm-0",uuid="GPU-00000000-0000-0000-0000-000000000000"} 1`,
		`vramfit_scrape_collector_success{collector="processes"} 1`,
		`vramfit_scrape_collector_success{collector="pods"} 1`,
	} {
		assert.True(t, strings.Contains(on, line), "no %s in\n%s", line, on)
	}
}

// inventory lists the holders when asked: every process of the fake fleet,
// and the pods from the kubelet's real gRPC API; a kubelet that cannot be
// asked is said, and the GPUs are still listed.
func TestInventoryHolders(t *testing.T) {
	kubelet := podresourcestest.Start(t)
	status, stdout, stderr := runInventory(t, "--nvml.fake=dgx-h100", "--output=json")
	require.Equal(t, 0, status, stderr)
	assert.NotContains(t, stdout, `"processes"`, "off by default")

	var inv nvml.Inventory
	status, stdout, stderr = runInventory(t, "--nvml.fake=dgx-h100", "--output=json", "--collector.processes")
	require.Equal(t, 0, status, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &inv))
	used := uint64(72790 << 20)
	assert.Equal(t, []nvml.InventoryProcess{{PID: 20311, Name: "vllm", MemoryUsedBytes: &used}}, inv.Devices[0].Processes)
	assert.Equal(t, []nvml.InventoryProcess{}, inv.Devices[7].Processes, "GPU 7 is idle")

	kubelet.SetPods(podresourcestest.Pod("ml", "vllm-0", "nvidia.com/gpu", map[string][]string{"server": {inv.Devices[3].UUID}}))
	status, stdout, stderr = runInventory(t, "--nvml.fake=dgx-h100", "--collector.processes", "--collector.pods", "--kubelet.pod-resources-socket="+kubelet.Socket)
	require.Equal(t, 0, status, stderr)
	assert.Regexp(t, `(?m)^GPU +HELD BY +USED MiB$`, stdout)
	assert.Regexp(t, `(?m)^0 +pid 20311 vllm +72790$`, stdout)
	assert.Regexp(t, `(?m)^3 +pod ml/vllm-0 container server +-$`, stdout)

	missing := filepath.Join(t.TempDir(), "kubelet.sock")
	status, stdout, stderr = runInventory(t, "--nvml.fake=dgx-h100", "--output=json", "--collector.pods", "--kubelet.pod-resources-socket="+missing)
	require.Equal(t, 0, status, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &inv))
	assert.Equal(t, "the kubelet's pod-resources socket: stat "+missing+": no such file or directory", inv.PodsError)
	assert.Len(t, inv.Devices, 8)
}
