package engine

import (
	"fmt"
	"math"
)

// vllm is vLLM's accounting: a budget of gpu_memory_utilization × the total
// CUDA reports, less the weights, the non-torch memory and the peak of the
// profiling run, leaves the KV cache, rounded down to whole blocks.
func vllm(p Profile, in Input) Result {
	r := Result{Engine: VLLM, Profile: p.Name, MemoryFraction: in.MemoryFraction}
	r.Budget = int64(math.Floor(in.MemoryFraction * float64(in.TotalBytes)))
	r.Weights = in.WeightBytes
	r.NonTorch = gib(p.NonTorch.GiBFor(in.TensorParallel, in.NVLink))
	r.Activation = vllmActivation(p, in)
	if !in.EnforceEager {
		r.CUDAGraph = gib(p.CUDAGraphGiB[min(in.TensorParallel-1, 1)])
	}

	available := float64(r.Budget - r.Weights - r.NonTorch - r.Activation)
	blocks := blocksOf(available, in.BlockSize, in.KVBytesPerToken)
	r.KVCacheTokens = blocks * int64(in.BlockSize)
	r.KVCacheBytes = r.KVCacheTokens * in.KVBytesPerToken
	r.MaxConcurrency = float64(r.KVCacheTokens) / float64(in.MaxModelLen)

	r.Starts = true
	switch {
	case in.FreeBytes < r.Budget && p.FreeCheck:
		r.Starts = false
		r.Reason = fmt.Sprintf("free memory on start (%.2f GiB) is less than gpu_memory_utilization %.2f of "+
			"%.2f GiB (%.2f GiB)", gibf(in.FreeBytes), in.MemoryFraction, gibf(in.TotalBytes), gibf(r.Budget))
	case in.FreeBytes < r.Budget:
		// V0 sizes the cache from the total, not from what is free: the
		// allocation of the cache itself runs out of memory.
		r.Starts = false
		r.Reason = fmt.Sprintf("the KV cache is sized as if %.2f GiB were free, but %.2f GiB are: "+
			"allocating it runs out of memory", gibf(r.Budget), gibf(in.FreeBytes))
	case blocks <= 0:
		r.Starts = false
		r.Reason = fmt.Sprintf("no memory for the cache blocks: weights %.2f + non-torch %.2f + activation "+
			"peak %.2f GiB exceed the budget of %.2f GiB", gibf(r.Weights), gibf(r.NonTorch),
			gibf(r.Activation), gibf(r.Budget))
	case r.KVCacheTokens < int64(in.MaxModelLen):
		// One request of max_model_len must fit: V0's
		// raise_if_cache_size_invalid compares tokens, V1's check compares
		// the bytes of ceil(max_model_len / block_size) blocks, the same.
		r.Starts = false
		r.Reason = fmt.Sprintf("max_model_len %d is larger than the %d tokens the KV cache holds",
			in.MaxModelLen, r.KVCacheTokens)
	}
	if r.Starts && r.CUDAGraph > 0 && in.FreeBytes-r.Budget < r.CUDAGraph {
		r.Warnings = append(r.Warnings, fmt.Sprintf("CUDA graphs (about %.2f GiB) are captured outside the "+
			"budget, where %.2f GiB are free", gibf(r.CUDAGraph), gibf(in.FreeBytes-r.Budget)))
	}
	return r
}

// vllmActivation is the peak of vLLM's profiling run above the weights. The
// run pushes max_num_batched_tokens through the model, then samples
// max_num_seqs sequences; the two peaks do not overlap (the forward pass's
// intermediates are freed before sampling), so the larger one counts.
//
// Forward: per token, the MLP holds its gate and up projections (2·width/tp)
// and their product (width/tp), beside three hidden-size tensors (the
// residual, the normalised input, the attention output), each of
// ActivationBytes. Sampling: the logits of max_num_seqs rows over the whole
// vocabulary, gathered on the driver, with the sorted copies, indices and
// probabilities of top-k/top-p sampling: SamplerBytesPerLogit per element.
// Neither shrinks the sampler with tensor parallelism, which is why TP>1
// leaves the peak where it is.
func vllmActivation(p Profile, in Input) int64 {
	tp := float64(in.TensorParallel)
	perToken := float64(in.ActivationBytes) * (3*float64(in.MLPWidth)/tp + 3*float64(in.HiddenSize))
	forward := float64(in.MaxNumBatchedTokens) * perToken
	sampler := float64(in.MaxNumSeqs) * float64(in.VocabSize) * p.SamplerBytesPerLogit
	return int64(math.Ceil(math.Max(forward, sampler)))
}

func gibf(b int64) float64 { return float64(b) / GiB }
