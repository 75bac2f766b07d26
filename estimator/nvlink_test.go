package estimator

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/engine"
)

// nonTorch is the vllm-v1-0.18 profile's non-torch memory at TP2 over
// NVLink and over PCIe.
func nonTorch(t *testing.T) (nvlink, pcie int64) {
	t.Helper()
	p, ok := engine.LookupProfile("vllm-v1-0.18")
	require.True(t, ok)
	return int64(p.NonTorch.NVLink * engine.GiB), int64(p.NonTorch.PCIe * engine.GiB)
}

func tp2() Layout { return Layout{TensorParallel: 2, PipelineParallel: 1, DataParallel: 1} }

// TestNVLinkFromTheGPU: a vLLM target at TP2 that does not say whether its
// GPUs share NVLink gets the NVLink figure on an SXM H100, whose HGX and
// DGX systems join all GPUs by NVSwitch, and the PCIe figure on an RTX
// 4090, which has no NVLink.
func TestNVLinkFromTheGPU(t *testing.T) {
	t.Parallel()
	nvlink, pcie := nonTorch(t)
	target := Target{Engine: EngineVLLM, EngineProfile: "vllm-v1-0.18", Context: 4096}
	e := estimatePreset(t, target, "llama-3.1-8b")
	for _, tc := range []struct {
		gpu  string
		want int64
	}{{"h100-80gb", nvlink}, {"h100", nvlink}, {"h200", nvlink}, {"b200", nvlink}, {"a100-80gb", nvlink},
		{"rtx-4090-24gb", pcie}, {"l40s", pcie}, {"h100-pcie-80gb", pcie}, {"48GiB", pcie}} {
		g, err := LookupGPU(tc.gpu)
		require.NoError(t, err)
		r, err := e.ServingEngine(tp2(), IdleGPU(g))
		require.NoError(t, err)
		assert.Equal(t, tc.want, r.NonTorch, tc.gpu)
	}
}

// TestNVLinkTargetWins: the target's own nvlink field decides, either way,
// whatever the GPU; the report says which was assumed and why.
func TestNVLinkTargetWins(t *testing.T) {
	t.Parallel()
	nvlink, pcie := nonTorch(t)
	h100, err := LookupGPU("h100-80gb")
	require.NoError(t, err)
	rtx, err := LookupGPU("rtx4090")
	require.NoError(t, err)
	no, yes := false, true
	for _, tc := range []struct {
		set  *bool
		gpu  GPU
		want int64
		from string
	}{
		{nil, h100, nvlink, "h100-80gb"},
		{nil, rtx, pcie, "rtx-4090-24gb"},
		{&no, h100, pcie, "target"},
		{&yes, rtx, nvlink, "target"},
	} {
		target := Target{Engine: EngineVLLM, EngineProfile: "vllm-v1-0.18", Context: 4096, NVLink: tc.set}
		e := estimatePreset(t, target, "llama-3.1-8b")
		r, err := e.ServingEngine(tp2(), IdleGPU(tc.gpu))
		require.NoError(t, err)
		assert.Equal(t, tc.want, r.NonTorch, tc.from)
		a := e.Assumptions(&tc.gpu)
		require.NotNil(t, a.NVLink)
		assert.Equal(t, tc.want == nvlink, *a.NVLink, tc.from)
		assert.Equal(t, tc.from, a.NVLinkFrom)
	}
}

// TestNVLinkWithoutGPU: without a GPU, or on one the catalog does not know,
// the estimate assumes PCIe unless the target says otherwise; only serving
// engines report the assumption.
func TestNVLinkWithoutGPU(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, Target{Engine: EngineVLLM, TensorParallel: 2}, "llama-3.1-8b")
	a := e.Assumptions(nil)
	require.NotNil(t, a.NVLink)
	assert.False(t, *a.NVLink)
	assert.Equal(t, "default", a.NVLinkFrom)
	yes := true
	a = estimatePreset(t, Target{Engine: EngineVLLM, TensorParallel: 2, NVLink: &yes}, "llama-3.1-8b").Assumptions(nil)
	require.NotNil(t, a.NVLink)
	assert.True(t, *a.NVLink)
	assert.Equal(t, "target", a.NVLinkFrom)
	odd, err := LookupGPU("80GiB")
	require.NoError(t, err)
	a = e.Assumptions(&odd)
	require.NotNil(t, a.NVLink)
	assert.False(t, *a.NVLink)
	assert.Equal(t, "default", a.NVLinkFrom)
	assert.Nil(t, estimatePreset(t, Target{}, "llama-3.1-8b").Assumptions(nil).NVLink)
}

// TestNVLinkByNVMLName: the collector names GPUs as NVML does; those names
// find the catalog's board.
func TestNVLinkByNVMLName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"NVIDIA H100 80GB HBM3": "h100-80gb", "nvidia h200": "h200-141gb", "NVIDIA A100-SXM4-40GB": "a100-40gb",
		"NVIDIA GeForce RTX 4090": "rtx-4090-24gb", "NVIDIA H100 PCIe": "h100-pcie-80gb", "h100": "h100-80gb",
	} {
		g, ok := lookupBoard(name)
		require.True(t, ok, name)
		assert.Equal(t, want, g.name, name)
	}
	_, ok := lookupBoard("NVIDIA A100 80GB PCIe")
	assert.False(t, ok, "an A100 PCIe card is not the catalog's SXM4 board")
	seen := map[string]bool{}
	for _, g := range gpuCatalog {
		for _, n := range g.nvml {
			assert.False(t, seen[strings.ToLower(n)], "%s names two boards", n)
			seen[strings.ToLower(n)] = true
		}
	}
}
