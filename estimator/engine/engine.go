// Package engine turns a model's per-GPU figures and a serving engine's
// settings into the memory that engine really allocates when it starts: its
// budget, the memory it counts outside PyTorch, the activation peak of its
// profiling run, its CUDA graphs, the KV cache it allocates in whole blocks,
// the maximum concurrency it logs, and whether it starts at all.
//
// The package depends on nothing else in vramfit. Its input is a small
// struct of plain numbers that the estimator fills (weights and KV bytes per
// token on one GPU, the model's widths, the layout, the GPU and the engine's
// settings); docs/engines.md says how. The accounting of each engine version
// lives in one table of profiles (profiles.go) with its sources, and is
// checked against the public startup logs in testdata/records.tsv.
package engine

import (
	"errors"
	"fmt"
	"math"
)

// Kind names the software that serves a model.
type Kind string

const (
	// Neutral is vramfit's engine-neutral model (the estimator's own
	// components): this package computes nothing for it.
	Neutral Kind = "neutral"
	// VLLM is vLLM: a memory budget of gpu_memory_utilization × the total
	// CUDA reports, minus what its profiling run measured, left to the KV
	// cache in blocks.
	VLLM Kind = "vllm"
	// SGLang is SGLang: mem_fraction_static of the memory free at start
	// holds the weights and the KV pool; activations and CUDA graphs live
	// outside it.
	SGLang Kind = "sglang"
)

// ParseKind reads an engine name; "" is the neutral default.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case "", Neutral:
		return Neutral, nil
	case VLLM, SGLang:
		return Kind(s), nil
	}
	return "", fmt.Errorf("engine %q is not supported; supported: %s, %s, %s", s, Neutral, VLLM, SGLang)
}

// GiB is 2^30 bytes, the unit the engines log in (SGLang's "GB" is GiB too).
const GiB = 1 << 30

// Input is everything the accounting needs, as plain numbers. Sizes are
// bytes on one GPU of the layout (the most loaded pipeline stage). A zero
// setting takes the profile's default.
type Input struct {
	// Profile names the engine version whose accounting applies (see
	// Profiles); "" takes the newest validated profile of Engine.
	Engine  Kind
	Profile string

	// WeightBytes is the weights one GPU loads (the estimator's weights
	// component for the layout).
	WeightBytes int64
	// KVBytesPerToken is the KV cache of one token on one GPU: K and V of
	// every layer that GPU holds, at the KV cache dtype, with the KV heads
	// it holds (ceil(kv_heads / tp), at least one).
	KVBytesPerToken int64

	// HiddenSize, MLPWidth and VocabSize size the profiling run's
	// activations. MLPWidth is the MLP's inner width a token passes through
	// (intermediate_size; for a mixture of experts, the expert width times
	// the experts per token).
	HiddenSize int
	MLPWidth   int
	VocabSize  int
	// ActivationBytes is the bytes of one activation element (2 for bf16
	// and fp16, the default).
	ActivationBytes int

	TensorParallel   int
	PipelineParallel int
	// NVLink reports that the tensor-parallel GPUs are joined by
	// NVLink/NVSwitch, where vLLM's custom all-reduce and NCCL keep large
	// buffers outside PyTorch; PCIe-only GPUs keep small ones.
	NVLink bool

	// GPUName is the GPU's name (NVML's or CUDA's, as "NVIDIA H100 80GB
	// HBM3"). Only vLLM V1's batch defaults read it: an A100 keeps the
	// small ones whatever its memory.
	GPUName string

	// TotalBytes is one GPU's memory as CUDA reports it (torch's
	// mem_get_info total: 79.19 GiB on an H100 80GB, not NVML's 79.65).
	TotalBytes int64
	// FreeBytes is the memory free on that GPU when the engine starts,
	// after the engine's own CUDA context. vLLM refuses to start, or runs
	// out of memory allocating its KV cache, when it is below its budget;
	// SGLang sizes its pool from it.
	FreeBytes int64

	// MemoryFraction is vLLM's gpu_memory_utilization or SGLang's
	// mem_fraction_static.
	MemoryFraction float64
	// MaxModelLen is the context one request may reach (max_model_len,
	// SGLang's context_length).
	MaxModelLen int
	// MaxNumBatchedTokens is the tokens of vLLM's profiling run
	// (max_num_batched_tokens); MaxNumSeqs its sequences (max_num_seqs).
	MaxNumBatchedTokens int
	MaxNumSeqs          int
	// BlockSize is the tokens of one KV block (vLLM's block_size, SGLang's
	// page_size).
	BlockSize int
	// OfflineLLM says the engine runs as vLLM's Python LLM class rather
	// than `vllm serve`, whose V1 batch defaults are smaller.
	OfflineLLM bool
	// EnforceEager turns CUDA graphs off.
	EnforceEager bool
}

// Result is the engine's own figures for one GPU and one replica.
type Result struct {
	Engine  Kind
	Profile string
	// MemoryFraction is the gpu_memory_utilization or mem_fraction_static
	// applied: the input's, or the profile's default for the layout.
	MemoryFraction float64
	// Budget is what the engine lets itself use: gpu_memory_utilization ×
	// the total (vLLM), mem_fraction_static × the free memory at start
	// (SGLang).
	Budget int64
	// Weights, NonTorch and Activation are what the engine subtracts from
	// the budget before the KV cache (SGLang counts only the weights, plus
	// what loading them leaves allocated, in NonTorch).
	Weights    int64
	NonTorch   int64
	Activation int64
	// CUDAGraph is the engine's CUDA graphs, captured after the KV cache
	// and outside the budget (0 with EnforceEager).
	CUDAGraph int64
	// KVCacheBytes is the KV cache allocated: KVCacheTokens × KVBytesPerToken.
	KVCacheBytes int64
	// KVCacheTokens is the tokens the KV cache holds, in whole blocks.
	KVCacheTokens int64
	// MaxConcurrency is KVCacheTokens / MaxModelLen, as vLLM logs it
	// ("Maximum concurrency for N tokens per request: X").
	MaxConcurrency float64
	// Starts reports whether the engine would start on FreeBytes; Reason
	// says why not, in the engine's own terms.
	Starts bool
	Reason string
	// Warnings are risks that do not stop the start (CUDA graphs that may
	// not fit beside the budget).
	Warnings []string
}

// Estimate applies the accounting of in.Engine's profile.
func Estimate(in Input) (Result, error) {
	p, err := resolveProfile(in)
	if err != nil {
		return Result{}, err
	}
	in = p.withDefaults(in)
	if err := in.validate(); err != nil {
		return Result{}, err
	}
	switch p.Engine {
	case VLLM:
		return vllm(p, in), nil
	case SGLang:
		return sglang(p, in), nil
	}
	return Result{}, fmt.Errorf("engine %q has no accounting of its own", in.Engine)
}

func resolveProfile(in Input) (Profile, error) {
	if in.Engine == Neutral || in.Engine == "" {
		return Profile{}, errors.New("the neutral engine has no engine accounting; use the estimator's components")
	}
	name := in.Profile
	if name == "" {
		name = DefaultProfile(in.Engine)
	}
	p, ok := LookupProfile(name)
	if !ok {
		return Profile{}, fmt.Errorf("engine profile %q is not known; known: %s", name, profileNames())
	}
	if p.Engine != in.Engine {
		return Profile{}, fmt.Errorf("engine profile %q is %s's, not %s's", name, p.Engine, in.Engine)
	}
	return p, nil
}

func (in Input) validate() error {
	var errs []error
	positive := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	positive("weight bytes", in.WeightBytes)
	positive("KV bytes per token", in.KVBytesPerToken)
	positive("total bytes", in.TotalBytes)
	positive("max model len", int64(in.MaxModelLen))
	positive("tensor parallel", int64(in.TensorParallel))
	positive("pipeline parallel", int64(in.PipelineParallel))
	positive("block size", int64(in.BlockSize))
	if in.FreeBytes < 0 || in.FreeBytes > in.TotalBytes {
		errs = append(errs, fmt.Errorf("free bytes %d must lie between 0 and the total %d", in.FreeBytes, in.TotalBytes))
	}
	if !(in.MemoryFraction > 0 && in.MemoryFraction <= 1) {
		errs = append(errs, fmt.Errorf("memory fraction %v must lie in (0, 1]", in.MemoryFraction))
	}
	if in.HiddenSize < 0 || in.MLPWidth < 0 || in.VocabSize < 0 || in.MaxNumBatchedTokens < 0 || in.MaxNumSeqs < 0 {
		errs = append(errs, errors.New("model widths and batch settings must not be negative"))
	}
	return errors.Join(errs...)
}

// blocksOf rounds a KV budget down to whole blocks of blockSize tokens:
// vLLM's num_blocks = available // (page size × layers), a page holding
// block_size tokens of one layer.
func blocksOf(available float64, blockSize int, kvPerToken int64) int64 {
	if available <= 0 {
		return 0
	}
	return int64(math.Floor(available / (float64(blockSize) * float64(kvPerToken))))
}

func gib(x float64) int64 { return int64(math.Round(x * GiB)) }
