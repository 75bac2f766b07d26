package engine

import (
	"fmt"
	"math"
)

// sglang is SGLang's accounting (profile_max_num_token): of the memory free
// when it starts, 1 − mem_fraction_static stays outside for activations and
// CUDA graphs; what loading the weights leaves of the rest is the KV pool.
//
// In the engine's words: rest = available_after_load − total × (1 − f), with
// total the memory free at init, so rest = f × free − loaded weights. The pool
// holds rest // cell_size tokens, in whole pages.
func sglang(p Profile, in Input) Result {
	r := Result{Engine: SGLang, Profile: p.Name, MemoryFraction: in.MemoryFraction}
	r.Budget = int64(math.Floor(in.MemoryFraction * float64(in.FreeBytes)))
	r.Weights = in.WeightBytes
	r.NonTorch = gib(p.LoadOverheadGiB)
	if !in.EnforceEager {
		r.CUDAGraph = gib(p.CUDAGraphGiB[min(in.TensorParallel-1, 1)])
	}

	rest := float64(r.Budget - r.Weights - r.NonTorch)
	pages := blocksOf(rest, in.BlockSize, in.KVBytesPerToken)
	r.KVCacheTokens = pages * int64(in.BlockSize)
	r.KVCacheBytes = r.KVCacheTokens * in.KVBytesPerToken
	r.MaxConcurrency = float64(r.KVCacheTokens) / float64(in.MaxModelLen)

	r.Starts = r.KVCacheTokens > 0
	if !r.Starts {
		r.Reason = fmt.Sprintf("not enough memory for the KV pool: weights %.2f GiB fill mem_fraction_static "+
			"%.2f of the %.2f GiB free; increase --mem-fraction-static", gibf(r.Weights+r.NonTorch),
			in.MemoryFraction, gibf(in.FreeBytes))
	}
	if r.Starts && r.KVCacheTokens < int64(in.MaxModelLen) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the KV pool holds %d tokens, less than one request of "+
			"max_model_len %d: SGLang starts, but no request reaches that context", r.KVCacheTokens, in.MaxModelLen))
	}
	outside := in.FreeBytes - r.Budget
	if r.Starts && r.CUDAGraph > 0 && outside < r.CUDAGraph {
		r.Warnings = append(r.Warnings, fmt.Sprintf("CUDA graphs (about %.2f GiB) and activations live in the "+
			"%.2f GiB left outside mem_fraction_static", gibf(r.CUDAGraph), gibf(outside)))
	}
	return r
}
