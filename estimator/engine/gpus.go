package engine

// CUDATotal is the memory one GPU model reports to CUDA (torch's
// mem_get_info total), which vLLM multiplies by gpu_memory_utilization. It is
// below NVML's total by what the driver reserves: an H100 80GB reports
// 81,559 MiB (79.65 GiB) to NVML and 79.19 GiB to CUDA. The figures are the
// "total_gpu_memory" of public vLLM logs; drivers move them by a few
// hundredths of a GiB (79.11 to 79.25 on H100s).
type CUDATotal struct {
	GPU    string
	GiB    float64
	Source string
}

// CUDATotals lists the GPUs whose CUDA total a public log shows.
var CUDATotals = []CUDATotal{
	{"h100-80gb", 79.19, "https://github.com/generative-computing/mellea/pull/416"},
	{"a100-40gb", 39.38, "https://github.com/vllm-project/vllm/issues/16570"},
	{"h200", 139.72, "https://github.com/vllm-project/vllm/issues/10702"},
	{"l40s", 44.42, "https://github.com/vllm-project/vllm/issues/15815"},
	{"rtx-3090", 23.58, "https://github.com/vllm-project/vllm/issues/10517"},
}

// LookupCUDATotal returns the CUDA total of a GPU of CUDATotals, in bytes.
func LookupCUDATotal(gpu string) (int64, bool) {
	for _, g := range CUDATotals {
		if g.GPU == gpu {
			return gib(g.GiB), true
		}
	}
	return 0, false
}
