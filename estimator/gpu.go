package estimator

import (
	"fmt"
	"strings"
)

// GPU is a device size to plan for: a catalog entry or a bare size.
type GPU struct {
	Name        string `json:"name"`
	MemoryBytes int64  `json:"memory_bytes"`
}

// catalogGPU is a catalog entry: the total memory as NVML reports it,
// other names it answers to, the names NVML gives the board, and whether
// the multi-GPU systems built on the board join their GPUs by NVLink or
// NVSwitch (nvlink.go says which boards and why).
type catalogGPU struct {
	name    string
	mib     int64
	aliases []string
	nvml    []string
	nvlink  bool
}

// gpuCatalog holds each GPU's total memory as NVML reports it. nvidia-smi
// prints NVML's total in MiB, and these totals are whole MiB (H100's
// 85,520,809,984 bytes are exactly 81,559 MiB), so bytes = MiB × 2^20. Each
// figure is an nvidia-smi total published in the place named beside it.
var gpuCatalog = []catalogGPU{
	// modal-labs/modal-client PR #2797 (2025-01) lists nvidia-smi totals of
	// T4 15360MiB, A10 23028MiB, L4 23034MiB, A100 40GB 40960MiB,
	// A100 80GB 81920MiB, L40S 46068MiB and H100 81559MiB.
	{name: "t4-16gb", mib: 15360, aliases: []string{"t4"}, nvml: []string{"Tesla T4"}},
	// Tesla V100-SXM2-16GB, driver 440.64: 4paradigm/k8s-vgpu-scheduler issue #7.
	{name: "v100-16gb", mib: 16160, nvml: []string{"Tesla V100-SXM2-16GB"}, nvlink: true},
	// Tesla V100-SXM2-32GB, driver 418.116: godweiyang/GrabGPU issue #5
	// (later drivers print 32510MiB; the smaller figure errs on the safe side).
	{name: "v100-32gb", mib: 32480, nvml: []string{"Tesla V100-SXM2-32GB"}, nvlink: true},
	{name: "a10-24gb", mib: 23028, aliases: []string{"a10"}, nvml: []string{"NVIDIA A10"}},
	{name: "l4-24gb", mib: 23034, aliases: []string{"l4"}, nvml: []string{"NVIDIA L4"}},
	// GeForce RTX 3090, driver 595.84: noonghunna/club-3090 issue #1128.
	{name: "rtx-3090-24gb", mib: 24576, aliases: []string{"rtx-3090", "rtx3090", "3090"}, nvml: []string{"NVIDIA GeForce RTX 3090"}},
	// GeForce RTX 4090, driver 550.163.01: RLinf/RLinf issue #255 (also
	// vllm-project/vllm issue #7553).
	{name: "rtx-4090-24gb", mib: 24564, aliases: []string{"rtx-4090", "rtx4090", "4090"}, nvml: []string{"NVIDIA GeForce RTX 4090"}},
	// GeForce RTX 5090, driver 610.57.04: noonghunna/club-3090 issue #1261.
	{name: "rtx-5090-32gb", mib: 32607, aliases: []string{"rtx-5090", "rtx5090", "5090"}, nvml: []string{"NVIDIA GeForce RTX 5090"}},
	{name: "a100-40gb", mib: 40960, nvml: []string{"NVIDIA A100-SXM4-40GB"}, nvlink: true},
	{name: "a100-80gb", mib: 81920, nvml: []string{"NVIDIA A100-SXM4-80GB"}, nvlink: true},
	{name: "l40s-48gb", mib: 46068, aliases: []string{"l40s"}, nvml: []string{"NVIDIA L40S"}},
	// H100 80GB HBM3 (SXM), driver 550.54.15: NVIDIA/nccl issue #1264.
	{name: "h100-80gb", mib: 81559, aliases: []string{"h100", "h100-sxm", "h100-sxm-80gb"},
		nvml: []string{"NVIDIA H100 80GB HBM3"}, nvlink: true},
	// H100 PCIe prints the same 81559MiB (driver 550 logs in public repositories).
	{name: "h100-pcie-80gb", mib: 81559, aliases: []string{"h100-pcie"}, nvml: []string{"NVIDIA H100 PCIe"}},
	// NVIDIA H200, driver 570.158.01, an 8-GPU node's nvidia-smi in public logs.
	{name: "h200-141gb", mib: 143771, aliases: []string{"h200"}, nvml: []string{"NVIDIA H200"}, nvlink: true},
	// NVIDIA B200, driver 580.95.05: NVIDIA/TensorRT-LLM issue #10278.
	{name: "b200-192gb", mib: 183359, aliases: []string{"b200", "b200-180gb"}, nvml: []string{"NVIDIA B200"}, nvlink: true},
}

// GPUs returns the catalog.
func GPUs() []GPU {
	out := make([]GPU, len(gpuCatalog))
	for i, g := range gpuCatalog {
		out[i] = g.gpu()
	}
	return out
}

func (g catalogGPU) gpu() GPU { return GPU{Name: g.name, MemoryBytes: g.mib << 20} }

// LookupGPU accepts a catalog name or alias ("h100-80gb", "h100"), or a size
// ("80GiB", "141GB", "85520809984").
func LookupGPU(s string) (GPU, error) {
	if g, ok := lookupCatalog(s); ok {
		return g.gpu(), nil
	}
	if sizes := gpuFamily(strings.ToLower(strings.TrimSpace(s))); len(sizes) > 1 {
		return GPU{}, fmt.Errorf("gpu %q names several catalog GPUs of different memory; name one: %s", s, strings.Join(sizes, ", "))
	}
	size, err := ParseSize(s)
	if err != nil {
		return GPU{}, fmt.Errorf("gpu %q is neither a catalog name (%s) nor a size such as 80GiB or 141GB: %w",
			s, strings.Join(gpuNames(), ", "), err)
	}
	if size < minGPUBytes {
		return GPU{}, fmt.Errorf("gpu size %q is %d bytes; want at least 1GiB", s, size)
	}
	return GPU{Name: strings.TrimSpace(s), MemoryBytes: size}, nil
}

// gpuFamily lists the catalog names of a model that comes in several
// memory sizes ("a100": a100-40gb, a100-80gb). A bare family name does not
// pick one of them: a plan for the 80 GB card is wrong for the 40 GB one.
func gpuFamily(key string) []string {
	var names []string
	for _, g := range gpuCatalog {
		if strings.HasPrefix(g.name, key+"-") {
			names = append(names, g.name)
		}
	}
	return names
}

// GPUAliases are the other names a catalog GPU answers to.
func GPUAliases(name string) []string {
	if g, ok := lookupCatalog(name); ok && g.name == name {
		return append([]string(nil), g.aliases...)
	}
	return nil
}

// lookupCatalog finds a catalog entry by name or alias, in any case.
func lookupCatalog(s string) (catalogGPU, bool) {
	key := strings.ToLower(strings.TrimSpace(s))
	for _, g := range gpuCatalog {
		if g.name == key || contains(g.aliases, key) {
			return g, true
		}
	}
	return catalogGPU{}, false
}

// minGPUBytes rejects sizes that are surely a typo (80 bytes for 80GB).
const minGPUBytes = 1 << 30

func gpuNames() []string {
	names := make([]string, len(gpuCatalog))
	for i, g := range gpuCatalog {
		names[i] = g.name
	}
	return names
}
