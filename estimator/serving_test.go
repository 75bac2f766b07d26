package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/engine"
	"github.com/vramfit/vramfit/estimator/model"
)

// TestServingEngineFollowsTheEngine checks the estimator's engine input on
// startup logs of docs/engines.md's records (estimator/engine/testdata/
// records.tsv): the KV cache tokens the engine logged, within the 5% those
// records are held to.
func TestServingEngineFollowsTheEngine(t *testing.T) {
	t.Parallel()
	h100, err := LookupGPU("h100-80gb")
	require.NoError(t, err)
	tests := []struct {
		name   string
		target Target
		gpus   int
		logged int64
	}{
		// v29: vLLM 0.19, Llama-3.1-8B-Instruct on one H100, utilization 0.95,
		// max_model_len 16384: 476,016 KV cache tokens
		// (https://github.com/llm-d-incubation/llm-d-planner/blob/main/accuracy/results/v0.19.0/logs/meta-llama-llama-3-1-8b--h100-80gb--tp1pp1dp1--16384.log).
		{"v29", Target{Engine: EngineVLLM, EngineProfile: "vllm-v1-0.18", Model: model.ModelSource{Preset: "llama-3.1-8b"},
			MemoryUtilization: 0.95, Context: 16384}, 1, 476_016},
		// v17: vLLM 0.11 (V1), the same model, utilization 0.90,
		// max_model_len 16000, blocks of 128: 420,864 tokens
		// (https://github.com/llm-d/llm-d-benchmark/blob/main/config_explorer/empirical-vllm-memory-results.md).
		{"v17", Target{Engine: EngineVLLM, EngineProfile: "vllm-v1", Model: model.ModelSource{Preset: "llama-3.1-8b"},
			Context: 16000, BlockSize: 128}, 1, 420_864},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.target.Name = tc.name
			e, err := Estimate(tc.target)
			require.NoError(t, err)
			l, err := e.LayoutFor(tc.gpus)
			require.NoError(t, err)
			r, err := e.ServingEngine(l, IdleGPU(h100))
			require.NoError(t, err)
			assert.True(t, r.Starts, r.Reason)
			assert.InEpsilon(t, tc.logged, r.KVCacheTokens, 0.05)
			assert.InDelta(t, float64(r.KVCacheTokens)/float64(tc.target.Context), r.MaxConcurrency, 1e-9)
		})
	}
}

// TestServingEngineStartCondition: "fits" for a serving engine is whether it
// starts: on the memory free now (vLLM V1 refuses less than its budget),
// and with a cache that holds one request of the full context.
func TestServingEngineStartCondition(t *testing.T) {
	t.Parallel()
	h100, err := LookupGPU("h100-80gb")
	require.NoError(t, err)
	e := estimatePreset(t, Target{Engine: EngineVLLM, Context: 16384}, "llama-3.1-8b")
	idle, err := e.ServingEngine(one(), IdleGPU(h100))
	require.NoError(t, err)
	assert.True(t, idle.Starts)
	busy := IdleGPU(h100)
	busy.FreeBytes = h100.MemoryBytes / 2
	r, err := e.ServingEngine(one(), busy)
	require.NoError(t, err)
	assert.False(t, r.Starts)
	assert.NotEmpty(t, r.Reason)

	// Llama-3.3-70B in FP8 does not start on one H100 (record v19, "No
	// available memory for the cache blocks", same source as v17); it does
	// on two with tensor parallelism, which is what gpus_required says.
	big := estimatePreset(t, Target{Engine: EngineVLLM, EngineProfile: "vllm-v1", Precision: "fp8", Context: 16000}, "llama-3.3-70b")
	single, err := big.ServingEngine(one(), IdleGPU(h100))
	require.NoError(t, err)
	assert.False(t, single.Starts)
	assert.Equal(t, 2, big.ForGPU(h100).GPUsRequired)
	assert.Equal(t, 1, e.ForGPU(h100).Replicas, "the engine takes its share of the GPU")
}

// TestServingEngineNeedsOne: the neutral engine and a bare parameter count
// have no serving accounting.
func TestServingEngineNeedsOne(t *testing.T) {
	t.Parallel()
	h100, err := LookupGPU("h100")
	require.NoError(t, err)
	_, err = estimatePreset(t, Target{}, "llama-3.1-8b").ServingEngine(one(), IdleGPU(h100))
	assert.EqualError(t, err, `target "llama-3.1-8b" runs on engine neutral, which has no serving accounting`)
	bare, err := Estimate(Target{Name: "bare", Model: model.ModelSource{Parameters: 8e9}, Engine: EngineSGLang})
	require.NoError(t, err)
	_, err = bare.ServingEngine(one(), IdleGPU(h100))
	assert.EqualError(t, err, `target "bare": engine sglang needs the model's architecture (a preset, architecture or hf_config)`)
}

// TestCUDATotal: a catalog GPU with a logged CUDA total uses it; any other
// GPU NVML's total less what the driver reserves.
func TestCUDATotal(t *testing.T) {
	t.Parallel()
	want, ok := engine.LookupCUDATotal("h200")
	require.True(t, ok)
	assert.Equal(t, want, cudaTotal(EngineGPU{Name: "h200-141gb", TotalBytes: 143771 << 20}))
	assert.Equal(t, int64(40<<30), cudaTotal(EngineGPU{Name: "NVIDIA Foo", TotalBytes: 41 << 30, ReservedBytes: 1 << 30}))
}

// TestServingEngineSettings: the target's engine settings reach the engine.
func TestServingEngineSettings(t *testing.T) {
	t.Parallel()
	h100, err := LookupGPU("h100-80gb")
	require.NoError(t, err)
	run := func(target Target) engine.Result {
		r, err := estimatePreset(t, target, "llama-3.1-8b").ServingEngine(one(), IdleGPU(h100))
		require.NoError(t, err)
		return r
	}
	def := run(Target{Engine: EngineVLLM})
	set := run(Target{Engine: EngineVLLM, BlockSize: 48, EnforceEager: true, MaxNumSeqs: 64})
	assert.Zero(t, set.KVCacheTokens%48, "whole blocks of 48 tokens")
	assert.Positive(t, def.CUDAGraph)
	assert.Zero(t, set.CUDAGraph, "no CUDA graphs")
	assert.Less(t, set.Activation, def.Activation, "64 sequences sampled instead of 1024")
}
