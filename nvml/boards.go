package nvml

import (
	"maps"
	"slices"
	"strings"
)

const mib = 1 << 20

// board is a GPU model as NVML reports it, for the fake backend.
type board struct {
	name              string
	total             uint64 // bytes, exactly as NVML reports them
	reserved          uint64 // bytes held by the driver and firmware (memory v2)
	computeCapability string
	powerIdleWatts    float64
	migCapable        bool
	// migProfiles gives the memory of one instance of each MIG profile,
	// where a source gives it; a fleet file states the others.
	migProfiles map[string]uint64
}

// Memory totals are NVML's own numbers, as nvidia-smi prints them in MiB:
//   - H100 SXM5 80GB 81559 MiB, A100 80GB 81920 MiB, A100 40GB 40960 MiB:
//     modal-labs/modal-client#2797 (nvidia-smi across their fleet); H100
//     also NVIDIA/nccl#1264 (driver 550.54.15, "0MiB / 81559MiB").
//   - H200 143771 MiB: NVIDIA/cuda-samples#311 (driver 550.54.15).
//   - RTX 4090 24564 MiB: RLinf/RLinf#255 (driver 550.163.01).
//
// MIG instance sizes (A100 only) are the GPU-instance profiles' memory (go-nvml
// pkg/nvml/mock/gpus/a100.go, MemorySizeMB, which NVML reports for the
// instance; a 2g.20gb instance shows "/ 19968MiB" in XuehaiPan/nvitop#8).
// Reserved memory is not in those sources: the figures below are
// illustrative, of the size nvidia-smi -q shows under "Reserved".
var boards = map[string]board{
	"h100-sxm5-80gb": {
		name: "NVIDIA H100 80GB HBM3", total: 81559 * mib, reserved: 551 * mib,
		computeCapability: "9.0", powerIdleWatts: 72, migCapable: true,
	},
	"h200-sxm5-141gb": {
		name: "NVIDIA H200", total: 143771 * mib, reserved: 551 * mib,
		computeCapability: "9.0", powerIdleWatts: 76, migCapable: true,
	},
	"a100-sxm4-80gb": {
		name: "NVIDIA A100-SXM4-80GB", total: 81920 * mib, reserved: 481 * mib,
		computeCapability: "8.0", powerIdleWatts: 62, migCapable: true,
		migProfiles: map[string]uint64{"1g.10gb": 9856 * mib, "1g.20gb": 19968 * mib, "2g.20gb": 19968 * mib,
			"3g.40gb": 40192 * mib, "4g.40gb": 40192 * mib, "7g.80gb": 80384 * mib},
	},
	"a100-sxm4-40gb": {
		name: "NVIDIA A100-SXM4-40GB", total: 40960 * mib, reserved: 441 * mib,
		computeCapability: "8.0", powerIdleWatts: 55, migCapable: true,
		migProfiles: map[string]uint64{"1g.5gb": 4864 * mib, "1g.10gb": 9856 * mib, "2g.10gb": 9856 * mib,
			"3g.20gb": 19968 * mib, "4g.20gb": 19968 * mib, "7g.40gb": 40192 * mib},
	},
	"rtx-4090": {
		name: "NVIDIA GeForce RTX 4090", total: 24564 * mib, reserved: 333 * mib,
		computeCapability: "8.9", powerIdleWatts: 22,
	},
}

func boardNames() string { return strings.Join(slices.Sorted(maps.Keys(boards)), ", ") }
