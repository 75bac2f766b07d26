package estimator

import "strings"

// Whether a target's tensor-parallel GPUs share NVLink changes what vLLM
// keeps outside PyTorch (custom all-reduce and NCCL buffers): about 2 GiB
// per GPU at TP ≥ 2 over NVLink against 0.3 GiB over PCIe
// (docs/engines.md). A target that does not say (its nvlink field unset)
// takes the answer of the GPU catalog for its board, looked up by catalog
// name, alias or the name NVML gives the board. A board the catalog does
// not know, and an estimate without a GPU, assume PCIe.
//
// The catalog marks a board nvlink when the systems built on it join all
// of their GPUs by NVLink, directly or through NVSwitch, so that any
// tensor-parallel group of a host is NVLink-connected (NVIDIA's product
// pages, "Interconnect" / "NVLink" rows):
//   - V100 SXM2 (the catalog's V100s are SXM2 boards, by their nvidia-smi
//     names): NVLink 300GB/s, https://www.nvidia.com/en-us/data-center/v100/
//   - A100 SXM4 (the catalog's a100-40gb and a100-80gb are taken to be the
//     SXM4 boards of DGX and HGX A100): NVLink 600GB/s,
//     https://www.nvidia.com/en-us/data-center/a100/
//   - H100 SXM5 (h100-80gb): NVLink 900GB/s,
//     https://www.nvidia.com/en-us/data-center/h100/
//   - H200 SXM: NVLink 900GB/s, https://www.nvidia.com/en-us/data-center/h200/
//   - B200: fifth-generation NVLink, 1.8TB/s per GPU through NVSwitch in
//     DGX/HGX B200, https://www.nvidia.com/en-us/data-center/dgx-b200/
//
// Not nvlink: T4, A10, L4 and L40S are PCIe cards whose product pages
// list a PCIe interconnect and no NVLink
// (https://www.nvidia.com/en-us/data-center/tesla-t4/,
// https://www.nvidia.com/en-us/data-center/products/a10-gpu/,
// https://www.nvidia.com/en-us/data-center/l4/,
// https://www.nvidia.com/en-us/data-center/l40s/), and the GeForce RTX 4090
// and 5090 have no NVLink connector ("NVLink (SLI) Ready: No",
// https://www.nvidia.com/en-us/geforce/graphics-cards/compare/). The RTX 3090
// (same page: "Yes") and the H100 PCIe take an optional bridge that joins a
// pair of cards (the H100 page lists the bridged H100 NVL at 600GB/s): the
// catalog says no for them, since a bridge is an add-on the board does not
// imply and never joins a group of 4 or 8 cards, so a tensor-parallel group
// that large is not NVLink-connected; a bridged pair at TP2 sets
// nvlink: true. An A100 PCIe card has an NVML name of its own ("NVIDIA A100
// 80GB PCIe") that the catalog does not list, so in `serve` it assumes PCIe;
// `--gpu a100-80gb` means the SXM4 board.

// nvlinkFromTarget and nvlinkFromDefault say where an estimate's NVLink
// assumption came from when not from a board: the target's own field, or
// the default.
const (
	nvlinkFromTarget  = "target"
	nvlinkFromDefault = "default"
)

// lookupBoard finds the catalog entry of a GPU named as the catalog or as
// NVML names it ("NVIDIA H100 80GB HBM3"), in any case.
func lookupBoard(name string) (catalogGPU, bool) {
	if g, ok := lookupCatalog(name); ok {
		return g, true
	}
	key := strings.TrimSpace(name)
	for _, g := range gpuCatalog {
		for _, n := range g.nvml {
			if strings.EqualFold(n, key) {
				return g, true
			}
		}
	}
	return catalogGPU{}, false
}

// nvlinkOn is whether the target's tensor-parallel GPUs share NVLink on
// GPUs named gpu ("" for none), and where that answer comes from: the
// target's nvlink field when set, else the catalog's board, else false.
func (e *Estimation) nvlinkOn(gpu string) (bool, string) {
	if v := e.target.NVLink; v != nil {
		return *v, nvlinkFromTarget
	}
	if gpu != "" {
		if g, ok := lookupBoard(gpu); ok {
			return g.nvlink, g.name
		}
	}
	return false, nvlinkFromDefault
}
