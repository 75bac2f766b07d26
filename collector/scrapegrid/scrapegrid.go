// Package scrapegrid builds the hosts on which vramfit's scrape cost is
// measured: G GPUs and T targets, for the benchmarks and the tests that
// check how the cost grows (docs/performance.md).
package scrapegrid

import (
	"fmt"
	"strings"

	"github.com/vramfit/vramfit/nvml"
)

// The grid of the benchmarks: GPUs per host and targets per file.
var (
	GPUs    = []int{1, 8, 64}
	Targets = []int{1, 10, 100, 1000}
)

// Fleet is a host of gpus H100 SXM5 80GB with every reading NVML can give
// and a different amount of memory in use on each, so that placements
// differ between GPUs.
func Fleet(gpus int) (nvml.Fleet, error) {
	var file strings.Builder
	file.WriteString("driver_version: \"550.54.15\"\ncuda_driver_version: \"12.4\"\nnvml_version: \"12.550.54.15\"\ngpus:\n")
	for i := range gpus {
		fmt.Fprintf(&file, "  - {board: h100-sxm5-80gb, memory_used: %dMiB, utilization: 0.%02d, temperature_celsius: %d, power_watts: %d}\n",
			(i*9973)%76000, i%100, 30+i%40, 72+(i*37)%600)
	}
	return nvml.ParseFleet(fmt.Sprintf("grid-%d-gpus.yml", gpus), []byte(file.String()))
}

// targetKinds are the targets a file cycles through, as operators write
// them (deploy/examples/targets.yml): every even one is an inference
// target, the odd ones fine-tune or train.
var targetKinds = []string{
	"model: {preset: llama-3-8b}, workload: inference, precision: bf16, context: 8192, batch: 16",
	"model: {preset: mistral-7b}, workload: lora, lora: {rank: 16, modules: [q_proj, k_proj, v_proj, o_proj]}, context: 4096, batch: 4, recompute: full",
	"model: {preset: llama-3.1-70b}, workload: inference, precision: fp8, kv_cache_dtype: fp8, context: 32768, batch: 8, tensor_parallel: 2",
	"model: {preset: llama-3-70b}, workload: qlora, precision: nf4-dq, lora: {rank: 64, dtype: bf16}, context: 2048, batch: 1, recompute: full",
	"model: {preset: mixtral-8x7b}, workload: inference, context: 32768, batch: 4, tensor_parallel: 4",
	"model: {preset: llama-3-8b}, workload: training, precision: bf16, optimizer: adamw, context: 8192, batch: 1, data_parallel: 8, zero_stage: 3, recompute: selective",
}

// TargetsFile is a targets file of n targets.
func TargetsFile(n int) []byte {
	var file strings.Builder
	file.WriteString("targets:\n")
	for i := range n {
		fmt.Fprintf(&file, "  - {name: target-%04d, %s}\n", i, targetKinds[i%len(targetKinds)])
	}
	return []byte(file.String())
}

// Series is how many series /metrics serves for gpus and targets from
// Fleet and TargetsFile, without the exporter's own go_, process_ and
// promhttp_ families (--web.disable-exporter-metrics):
//
//	8 (build, driver, reload ×2, scrape success and duration ×2 each)
//	+ 9 per GPU (info, up, memory total, used, free and reserved,
//	  utilisation, temperature, power)
//	+ 13 per target (info, pinned, 7 required_bytes components,
//	  gpus_required, fits, fits_when_idle, headroom)
//	+ 1 per inference target (max_batch): ⌈targets/2⌉ of them
//	+ 2 once there are GPUs to place the targets on (fit_together,
//	  fit_together_when_idle).
func Series(gpus, targets int) int {
	n := 8 + 9*gpus + 13*targets + (targets+1)/2
	if gpus > 0 {
		n += 2
	}
	return n
}
