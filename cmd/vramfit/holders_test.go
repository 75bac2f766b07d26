package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vramfit/vramfit/collector/podresources/podresourcestest"
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
		`vramfit_gpu_process_memory_used_bytes{gpu="1",pid="7020",process="torchrun finetune.py",uuid="`,
		`vramfit_gpu_allocation_info{container="server",gpu="",namespace="ml",pod="vllm-0",uuid="GPU-00000000-0000-0000-0000-000000000000"} 1`,
		`vramfit_scrape_collector_success{collector="processes"} 1`,
		`vramfit_scrape_collector_success{collector="pods"} 1`,
	} {
		assert.True(t, strings.Contains(on, line), "no %s in\n%s", line, on)
	}
}
