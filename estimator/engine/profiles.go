package engine

import (
	"slices"
	"strings"
)

// Profile is the accounting of one range of engine versions: its defaults
// and the few constants its logs fix, each with its sources. Profiles is the
// one table of them; docs/engines.md shows it with the evidence.
type Profile struct {
	Name   string
	Engine Kind
	// Versions says which releases the profile models, and how to tell
	// them apart in a startup log.
	Versions string
	// Validated says whether records of testdata/records.tsv check the
	// profile's KV capacity; an unvalidated profile is the code read, with
	// constants carried over from a validated one.
	Validated bool

	// DefaultFraction is gpu_memory_utilization (vLLM); FractionByTP
	// SGLang's mem_fraction_static default by tensor-parallel size (the
	// largest key not above the TP size applies).
	DefaultFraction float64
	FractionByTP    map[int]float64
	DefaultBlock    int
	DefaultMaxSeqs  int
	// ChunkedAbove and ChunkedTokens: vLLM's V0 engine turns chunked
	// prefill on for a max_model_len above ChunkedAbove, with
	// max_num_batched_tokens = ChunkedTokens; below it the profiling run
	// takes max(max_model_len, 2048) tokens. The V1 engine always chunks,
	// with ChunkedTokens by default.
	ChunkedAbove  int
	ChunkedTokens int
	// V1Batch, where set, replaces DefaultMaxSeqs and ChunkedTokens by
	// vLLM V1's defaults, which depend on the GPU and the entry point.
	V1Batch *V1BatchDefaults

	// NonTorch is the memory outside PyTorch that the engine counts inside
	// its budget, by layout, in GiB.
	NonTorch NonTorch
	// SamplerBytesPerLogit is the profiling run's sampler peak per element
	// of the [max_num_seqs × vocab] logits (vLLM).
	SamplerBytesPerLogit float64
	// LoadOverheadGiB is what loading the weights leaves allocated beyond
	// the weights themselves, inside SGLang's budget.
	LoadOverheadGiB float64
	// CUDAGraphGiB is a rough size of the CUDA graphs, single GPU and
	// tensor parallel, used only to warn when they may not fit beside the
	// budget.
	CUDAGraphGiB [2]float64

	// FreeCheck: the engine refuses to start when less than its budget is
	// free (vLLM V1's init_device).
	FreeCheck bool
	// Sources are the code and logs the profile's rules and figures come
	// from.
	Sources []string
}

// V1BatchDefaults are vLLM V1's defaults of max_num_batched_tokens and
// max_num_seqs (EngineArgs, "For GPUs like H100 and MI300x, use larger
// default values"): a GPU of at least LargeGiB whose name does not say A100
// gets index 1, any other index 0. `vllm serve` and the Python LLM class
// differ in tokens only. max_num_seqs never exceeds max_num_batched_tokens.
type V1BatchDefaults struct {
	LargeGiB                     float64
	ServeTokens, LLMTokens, Seqs [2]int
}

// large reports whether a GPU gets V1's larger defaults.
func (d V1BatchDefaults) large(in Input) bool {
	return float64(in.TotalBytes) >= d.LargeGiB*GiB && !strings.Contains(strings.ToLower(in.GPUName), "a100")
}

// NonTorch is memory outside PyTorch by layout, in GiB: one GPU, tensor
// parallel over PCIe, tensor parallel over NVLink up to 4 and from 8 GPUs.
type NonTorch struct {
	Single, PCIe, NVLink, NVLink8 float64
}

// GiBFor is the non-torch memory of a layout.
func (n NonTorch) GiBFor(tp int, nvlink bool) float64 {
	switch {
	case tp <= 1:
		return n.Single
	case !nvlink:
		return n.PCIe
	case tp >= 8:
		return n.NVLink8
	}
	return n.NVLink
}

// Profiles is the table of engine accountings, oldest first per engine.
var Profiles = []Profile{
	{
		Name:   "vllm-v0-0.6",
		Engine: VLLM,
		Versions: "vLLM 0.6.4 to 0.6.6 with the V0 engine; the log reads \"Memory profiling results: " +
			"total_gpu_memory=... non_torch_memory=... kv_cache_size=...\"",
		Validated:       true,
		DefaultFraction: 0.90, DefaultBlock: 16, DefaultMaxSeqs: 256,
		ChunkedAbove: 32768, ChunkedTokens: 2048,
		// The baseline is taken before the CUDA context, so non-torch
		// memory includes it (0.35 GiB on an RTX 3090). The NVLink figures
		// add the TP2 increase measured on H100s (PR 10511) and take TP8
		// from an H200 host (issue 10702: 5.21 to 5.68 GiB).
		NonTorch:             NonTorch{Single: 0.35, PCIe: 0.55, NVLink: 2.15, NVLink8: 5.5},
		SamplerBytesPerLogit: 38,
		CUDAGraphGiB:         [2]float64{0.5, 1.5},
		Sources: []string{
			"vllm/worker/worker.py determine_num_available_blocks (v0.6.4): num_gpu_blocks = " +
				"(total × gpu_memory_utilization − peak) // cache_block_size; peak = torch peak + non-torch",
			"vllm/worker/worker.py raise_if_cache_size_invalid: no blocks, or max_model_len above " +
				"blocks × block_size, stops the start",
			"non-torch 0.35 GiB at TP1: https://github.com/vllm-project/vllm/issues/10517 (RTX 3090)",
			"non-torch at TP8 over NVLink, 5.21-5.68 GiB: https://github.com/vllm-project/vllm/issues/10702 (H200)",
			"non-torch 1.79 GiB more at TP2 than TP1 on H100s: https://github.com/vllm-project/vllm/pull/10511",
		},
	},
	{
		Name:   "vllm-v0-0.7",
		Engine: VLLM,
		Versions: "vLLM 0.7.0 to 0.10.x with the V0 engine (\"Initializing a V0 LLM engine\"); the log reads " +
			"\"the current vLLM instance can use total_gpu_memory (X) x gpu_memory_utilization (Y)\" and " +
			"\"model weights take ...; non_torch_memory takes ...; PyTorch activation peak memory takes ...\"",
		Validated:       true,
		DefaultFraction: 0.90, DefaultBlock: 16, DefaultMaxSeqs: 256,
		ChunkedAbove: 32768, ChunkedTokens: 2048,
		// The baseline is taken after the CUDA context: single GPUs log
		// 0.03-0.16 GiB; two PCIe GPUs 0.25-0.30 GiB; NVLink adds the custom
		// all-reduce and NCCL buffers (1.79 GiB more at TP2 on H100s).
		NonTorch:             NonTorch{Single: 0.10, PCIe: 0.30, NVLink: 1.9, NVLink8: 5.5},
		SamplerBytesPerLogit: 38,
		CUDAGraphGiB:         [2]float64{0.5, 1.5},
		Sources: []string{
			"vllm/worker/worker.py determine_num_available_blocks with vllm/utils.py memory_profiling " +
				"(v0.7): available KV = total × gpu_memory_utilization − (weights + non-torch increase + " +
				"torch peak increase)",
			"vllm/worker/model_runner.py profile_run: max_num_seqs dummy sequences sharing " +
				"max_num_batched_tokens, sampled with top_k = vocab − 1",
			"non-torch 0.03-0.04 GiB at TP1: https://github.com/vllm-project/vllm/issues/13882, " +
				"https://github.com/vllm-project/vllm/issues/12529; 0.16 GiB on an H100: " +
				"https://github.com/generative-computing/mellea/pull/416",
			"non-torch 0.30 GiB at TP2 over PCIe: https://github.com/vllm-project/vllm/issues/15815 (L40S)",
			"non-torch 1.79 GiB more at TP2 than TP1 on H100s: https://github.com/vllm-project/vllm/pull/10511",
			"CUDA graphs 0.13 GiB for a 28-layer model: https://github.com/generative-computing/mellea/pull/416; " +
				"2.4 GiB at TP4: https://github.com/vllm-project/vllm/issues/7553",
		},
	},
	{
		Name:   "vllm-v1",
		Engine: VLLM,
		Versions: "vLLM 0.9.2 to 0.16 with the V1 engine (\"Initializing a V1 LLM engine\"); the log reads " +
			"\"Available KV cache memory: X GiB\" and \"GPU KV cache size: N tokens\"",
		Validated:       true,
		DefaultFraction: 0.90, DefaultBlock: 16,
		V1Batch: &v1BatchDefaults,
		// Since PR 19312 (0.9.2) V1 profiles with V0's memory_profiling:
		// the baseline is taken after the CUDA context, so non-torch memory
		// is cuBLAS workspaces and the all-reduce buffers. Read off two
		// Llama logs of 0.11 on H100s (llm-d-benchmark): 0.13 GiB at TP1,
		// 0.55 at TP2 over NVLink; the Qwen3 logs of the same file (0.14,
		// 0.54) were kept out of the setting. Two PCIe GPUs carry V0's
		// 0.30, and TP8 is V1's TP2 growth times V0's TP8-to-TP2 growth
		// (0.13 + 2.9 × 0.42): neither is validated. The sampler's 38 bytes
		// per logit carry over from V0 and hold for V1's 1024 sequences
		// (4.65 to 7.28 GiB against 4.76 to 7.38 logged).
		NonTorch:             NonTorch{Single: 0.13, PCIe: 0.30, NVLink: 0.55, NVLink8: 1.35},
		SamplerBytesPerLogit: 38,
		CUDAGraphGiB:         [2]float64{0.5, 1.5},
		FreeCheck:            true,
		Sources: []string{
			"vllm/v1/worker/gpu_worker.py init_device: requested_memory = total × " +
				"gpu_memory_utilization; \"Free memory on device ... is less than desired GPU memory " +
				"utilization\" when free is below it",
			"vllm/v1/worker/gpu_worker.py determine_available_memory: requested_memory − " +
				"non_kv_cache_memory (weights + torch peak increase + non-torch increase)",
			"vllm/v1/core/kv_cache_utils.py: num_blocks = available // page_size // num_layers; " +
				"\"GPU KV cache size\" = num_blocks × block_size; \"Maximum concurrency\" = tokens / " +
				"max_model_len (https://github.com/vllm-project/vllm/pull/13596)",
			"V1 profiling moved onto memory_profiling: https://github.com/vllm-project/vllm/pull/19312",
			"vllm/engine/arg_utils.py _set_default_args: 8192 batched tokens (16384 for the LLM class) and " +
				"1024 sequences on a GPU of 70 GiB or more that is not an A100, else 2048 (8192) and 256; " +
				"the A100 exception: https://github.com/vllm-project/vllm/pull/17885",
			"non-torch 0.13 GiB at TP1 and 0.55 at TP2 over NVLink, activation 4.76 GiB for Llama-3.1-8B " +
				"(0.11.0, H100): https://github.com/llm-d/llm-d-benchmark/blob/main/config_explorer/empirical-vllm-memory-results.md",
		},
	},
	{
		Name:   "vllm-v1-0.18",
		Engine: VLLM,
		Versions: "vLLM 0.17 to 0.20 with the V1 engine; the log reads \"Available KV cache memory: X GiB\" " +
			"and, at DEBUG level, \"Total non KV cache memory: ...; torch peak memory increase: ...; " +
			"non-torch forward increase memory: ...\". 0.21 and later also subtract an estimate of the " +
			"CUDA graphs from the budget, which this profile does not",
		Validated:       true,
		DefaultFraction: 0.90, DefaultBlock: 16,
		V1Batch: &v1BatchDefaults,
		// 0.17 cut the profiling run's peak by about 60% (Qwen3-14B:
		// 5.64 to 2.23 GiB between 0.16 and 0.17, llm-d-planner's version
		// sweep), which is the sampler's per-logit bytes falling from 38 to
		// about 15.5: fitted on one log (v29, Llama-3.1-8B: 1.89 GiB over
		// 1024 × 128256 logits = 15.45 B), the seven other 0.19 logs kept
		// out. It is about four fp32 copies of the logits (16 B), what is
		// left once the dummy sampling skips top-k and top-p ("the sampler
		// may skip top_k, top_p, and logprobs", vLLM's model runner).
		// 0.18 raised the single-GPU non-torch memory from 0.13 to 0.25 GiB
		// (v29); two H100s over NVLink log 2.1 GiB (v35, fitted), NCCL's
		// buffers beside the custom all-reduce, set up during the profiling
		// run. TP4 was kept out (it logs 2.21). Two PCIe GPUs carry V0's
		// 0.30 and TP8 takes 2.4, the TP2-to-TP4 growth carried on: neither
		// is validated.
		NonTorch:             NonTorch{Single: 0.25, PCIe: 0.30, NVLink: 2.1, NVLink8: 2.4},
		SamplerBytesPerLogit: 15.5,
		CUDAGraphGiB:         [2]float64{0.85, 1.8},
		FreeCheck:            true,
		Sources: []string{
			"vllm/v1/worker/gpu_worker.py determine_available_memory (0.19): \"Initial free memory\", " +
				"\"Requested memory: 0.95 (util), 75.23 GiB\", available = requested − (weights + torch " +
				"peak increase + non-torch increase)",
			"vllm/engine/arg_utils.py (0.19): \"Defaulting max_num_batched_tokens to 8192\" and " +
				"\"max_num_seqs to 1024 for OPENAI_API_SERVER usage context\" on H100s",
			"activation 5.64 → 2.23 GiB from 0.16 to 0.17, non-torch 0.13 → 0.25 GiB from 0.17 to 0.18: " +
				"https://github.com/llm-d-incubation/llm-d-planner/blob/main/accuracy/accuracy_report.md",
			"logs of 0.19 on H100s at TP1, TP2 and TP4: " +
				"https://github.com/llm-d-incubation/llm-d-planner/tree/main/accuracy/results/v0.19.0/logs",
			"CUDA graphs estimated at 0.81 to 1.82 GiB (\"Estimated CUDA graph memory\") in the same logs",
		},
	},
	{
		Name:   "sglang-0.4",
		Engine: SGLang,
		Versions: "SGLang 0.3 to 0.4.x (model_runner.py profile_max_num_token); the log reads " +
			"\"Load weight begin. avail mem=X GB\", \"KV Cache is allocated. #tokens: N\" and " +
			"\"max_total_num_tokens=N\"",
		Validated:    true,
		FractionByTP: map[int]float64{1: 0.88, 2: 0.87, 4: 0.85, 8: 0.81, 16: 0.79},
		DefaultBlock: 1,
		// Loading leaves 0.06-0.29 GiB allocated beyond the weights in the
		// five logs of the table (median 0.15).
		LoadOverheadGiB: 0.15,
		CUDAGraphGiB:    [2]float64{0.5, 1.0},
		Sources: []string{
			"python/sglang/srt/model_executor/model_runner.py profile_max_num_token: rest = " +
				"available after loading − total_gpu_memory × (1 − mem_fraction_static), total_gpu_memory " +
				"being the memory free at init; max_total_num_tokens = rest // cell_size; cell_size = " +
				"kv_heads per rank × head_dim × layers × 2 × dtype bytes",
			"python/sglang/srt/server_args.py: mem_fraction_static 0.88/0.87/0.85/0.81/0.79 for TP " +
				"1/2/4/8/16 (0.4.x); logged 0.88 at TP1 (https://docs.sglang.ai/start/send_request.html) " +
				"and 0.85 at TP4 (https://github.com/didier-durand/llms-in-clouds/blob/main/docs/sglang.md)",
		},
	},
}

// LookupProfile finds a profile by name.
func LookupProfile(name string) (Profile, bool) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// DefaultProfile is the profile an engine target gets when it names no
// version: the newest validated one.
func DefaultProfile(k Kind) string {
	name := ""
	for _, p := range Profiles {
		if p.Engine == k && p.Validated {
			name = p.Name
		}
	}
	return name
}

func profileNames() string {
	names := make([]string, 0, len(Profiles))
	for _, p := range Profiles {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// withDefaults fills the settings an input leaves at zero.
func (p Profile) withDefaults(in Input) Input {
	in.Engine = p.Engine
	in.Profile = p.Name
	if in.TensorParallel == 0 {
		in.TensorParallel = 1
	}
	if in.PipelineParallel == 0 {
		in.PipelineParallel = 1
	}
	if in.ActivationBytes == 0 {
		in.ActivationBytes = 2
	}
	if in.BlockSize == 0 {
		in.BlockSize = p.DefaultBlock
	}

	if in.MemoryFraction == 0 {
		in.MemoryFraction = p.DefaultFraction
		if p.FractionByTP != nil {
			in.MemoryFraction = p.fractionFor(in.TensorParallel * in.PipelineParallel)
		}
	}
	if p.Engine != VLLM {
		return in
	}
	if p.V1Batch == nil {
		if in.MaxNumBatchedTokens == 0 {
			in.MaxNumBatchedTokens = p.batchedTokens(in.MaxModelLen)
		}
		if in.MaxNumSeqs == 0 {
			in.MaxNumSeqs = p.DefaultMaxSeqs
		}
		return in
	}
	d, i := p.V1Batch, 0
	if d.large(in) {
		i = 1
	}
	if in.MaxNumBatchedTokens == 0 {
		in.MaxNumBatchedTokens = d.ServeTokens[i]
		if in.OfflineLLM {
			in.MaxNumBatchedTokens = d.LLMTokens[i]
		}
	}
	if in.MaxNumSeqs == 0 {
		in.MaxNumSeqs = min(d.Seqs[i], in.MaxNumBatchedTokens)
	}
	return in
}

// fractionFor is SGLang's default mem_fraction_static for n GPUs of a
// replica.
func (p Profile) fractionFor(n int) float64 {
	best, f := 0, 0.0
	for k, v := range p.FractionByTP {
		if k <= n && k > best {
			best, f = k, v
		}
	}
	return f
}

// batchedTokens is vLLM V0's default max_num_batched_tokens.
func (p Profile) batchedTokens(maxModelLen int) int {
	if p.ChunkedAbove == 0 || maxModelLen > p.ChunkedAbove {
		return p.ChunkedTokens
	}
	return max(maxModelLen, 2048)
}

// v1BatchDefaults are the V1 engine's batch defaults from EngineArgs, the
// same from 0.9.2 to 0.20: a GPU of 70 GiB or more that is not an A100 gets
// 8192 batched tokens under `vllm serve` (16384 in the LLM class) and 1024
// sequences; any other 2048 (8192) and 256.
var v1BatchDefaults = V1BatchDefaults{LargeGiB: 70, ServeTokens: [2]int{2048, 8192},
	LLMTokens: [2]int{8192, 16384}, Seqs: [2]int{256, 1024}}
