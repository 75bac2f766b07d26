package estimator

import (
	"fmt"

	"github.com/vramfit/vramfit/estimator/engine"
)

// engineContext is the CUDA context a serving engine creates before it
// measures the free memory: about 0.4 GiB (docs/engines.md, "What the
// integrator fills in").
const engineContext = 2 * (1 << 30) / 5

// EngineGPU is the GPU a serving engine starts on, as NVML reports it.
type EngineGPU struct {
	// Name is a catalog name (h100-80gb) or NVML's (NVIDIA H100 80GB HBM3):
	// vLLM V1 keeps small batch defaults on an A100, and a catalog name
	// finds the total CUDA reports.
	Name string
	// TotalBytes and ReservedBytes are NVML's; FreeBytes what NVML says is
	// free now (reserved memory is never free), before the engine's own
	// CUDA context.
	TotalBytes, ReservedBytes, FreeBytes int64
}

// IdleGPU is g with all of its memory free.
func IdleGPU(g GPU) EngineGPU {
	return EngineGPU{Name: g.Name, TotalBytes: g.MemoryBytes, FreeBytes: g.MemoryBytes}
}

// Engine is the target's engine with its default applied.
func (e *Estimation) Engine() Engine { return e.in.engine }

// Serves reports whether a serving engine's accounting (vLLM, SGLang)
// decides the target's KV cache and whether it starts.
func (e *Estimation) Serves() bool { return e.in.engine.serves() }

// ServingEngine applies the target's serving engine to layout l on GPUs
// like g: the KV cache tokens it allocates for one replica, the concurrency
// it logs, and whether it starts on the memory free. It is an error for a
// target that no serving engine runs, or whose architecture is unknown.
func (e *Estimation) ServingEngine(l Layout, g EngineGPU) (engine.Result, error) {
	if !e.Serves() {
		return engine.Result{}, fmt.Errorf("target %q runs on engine %s, which has no serving accounting", e.target.Name, e.in.engine)
	}
	m := e.model
	if !m.KnownArchitecture {
		return engine.Result{}, fmt.Errorf("target %q: engine %s needs the model's architecture (a preset, architecture or hf_config)", e.target.Name, e.in.engine)
	}
	total := cudaTotal(g)
	free := min(max(g.FreeBytes-engineContext, 0), total)
	nvlink, _ := e.nvlinkOn(g.Name)
	in := engine.Input{
		Engine:              engine.Kind(e.in.engine),
		Profile:             e.target.EngineProfile,
		WeightBytes:         ceilBytes(e.frozenWeights(l)),
		KVBytesPerToken:     ceilBytes(e.kvPerToken(l)),
		HiddenSize:          m.HiddenSize,
		MLPWidth:            m.IntermediateSize * max(1, m.ExpertsPerToken),
		VocabSize:           m.VocabSize,
		ActivationBytes:     int(e.in.actBytes),
		TensorParallel:      l.TensorParallel,
		PipelineParallel:    l.PipelineParallel,
		NVLink:              nvlink,
		GPUName:             g.Name,
		TotalBytes:          total,
		FreeBytes:           free,
		MemoryFraction:      e.target.MemoryUtilization,
		MaxModelLen:         e.in.context,
		MaxNumBatchedTokens: e.target.MaxBatchedTokens,
		MaxNumSeqs:          e.target.MaxNumSeqs,
		BlockSize:           e.target.BlockSize,
		EnforceEager:        e.target.EnforceEager,
	}
	return engine.Estimate(in)
}

// cudaTotal is the memory CUDA reports for g: the total a public log shows
// for its model, else NVML's total less what the driver reserves.
func cudaTotal(g EngineGPU) int64 {
	names := []string{g.Name}
	if c, ok := lookupCatalog(g.Name); ok {
		names = append([]string{c.name}, c.aliases...)
	}
	for _, n := range names {
		if b, ok := engine.LookupCUDATotal(n); ok {
			return b
		}
	}
	return g.TotalBytes - g.ReservedBytes
}

// engineComponents are a serving engine's allocations on one GPU as the
// estimate's parts: the weights, the KV cache it fills the budget with, the
// activation peak of its profiling run, and outside PyTorch its non-torch
// memory, CUDA graphs and CUDA context.
func engineComponents(r engine.Result) Components {
	c := Components{
		Weights:     r.Weights,
		KVCache:     r.KVCacheBytes,
		Activations: r.Activation,
		Overhead:    r.NonTorch + r.CUDAGraph + engineContext,
	}
	c.Total = c.Weights + c.KVCache + c.Activations + c.Overhead
	return c
}
