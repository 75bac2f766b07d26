package report

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/model"
)

// estimatePreset estimates target on a preset of the embedded catalog.
func estimatePreset(t testing.TB, target estimator.Target, preset string) *estimator.Estimation {
	t.Helper()
	target.Model = model.ModelSource{Preset: preset}
	if target.Name == "" {
		target.Name = preset
	}
	e, err := estimator.Estimate(target)
	require.NoError(t, err)
	return e
}

func gpu(t testing.TB, name string) estimator.GPU {
	t.Helper()
	g, err := estimator.LookupGPU(name)
	require.NoError(t, err)
	return g
}

func TestReportJSONFields(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, estimator.Target{Precision: "fp8", KVCacheDType: "fp8", Context: 32768, Batch: 8, TensorParallel: 2}, "llama-3.1-70b")
	g, err := estimator.LookupGPU("h100-80gb")
	require.NoError(t, err)
	for _, gpu := range []*estimator.GPU{nil, &g} {
		data, err := json.Marshal(New(e, gpu))
		require.NoError(t, err)
		var obj map[string]any
		require.NoError(t, json.Unmarshal(data, &obj))
		// The fields DESIGN.md § Output promises scripts.
		for _, key := range []string{"target", "method", "workload", "parameters", "parameters_active",
			"kv_cache_bytes_per_token", "per_gpu_bytes", "gpus", "gpu", "gpus_required", "unfit_reason",
			"max_batch", "max_context", "assumptions", "warnings"} {
			assert.Contains(t, obj, key)
		}
		for _, key := range []string{"weights", "kv_cache", "activations", "gradients", "optimizer", "overhead", "total"} {
			assert.Contains(t, obj["per_gpu_bytes"], key)
		}
		for _, key := range []string{"flash_attention", "recompute", "memory_utilization"} {
			assert.Contains(t, obj["assumptions"], key)
		}
		if gpu == nil {
			assert.Nil(t, obj["gpu"])
			assert.Nil(t, obj["gpus_required"])
		} else {
			assert.Equal(t, map[string]any{"name": "h100-80gb", "memory_bytes": float64(85520809984)}, obj["gpu"])
		}
	}
	assert.Equal(t, estimator.Inference, e.Workload())
	assert.Equal(t, estimator.Detailed, e.Method())
	assert.Equal(t, "fp8", e.Precision())
	r := New(e, &g)
	// DESIGN.md's example: Llama-3-70B in FP8 with 32k context, batch 8,
	// tensor_parallel 2 needs 2 H100s, with 163,840 KV bytes per token.
	require.NotNil(t, r.GPUsRequired)
	assert.Equal(t, 2, *r.GPUsRequired)
	assert.Equal(t, int64(163840), *r.KVCacheBytesPerToken)
	assert.Equal(t, int64(70553706496), r.Parameters)
	assert.Equal(t, 2, r.GPUs)
}

// The JSON report says which fields were chosen: an empty list, not null,
// when none were.
func TestReportChosen(t *testing.T) {
	t.Parallel()
	h100 := gpu(t, "h100-80gb")
	open := New(estimatePreset(t, estimator.Target{}, "llama-3-70b"), &h100)
	assert.Equal(t, []string{"tensor_parallel", "pipeline_parallel"}, open.Chosen)
	set := New(estimatePreset(t, estimator.Target{TensorParallel: 2, PipelineParallel: 1}, "llama-3-70b"), &h100)
	out, err := json.Marshal(set)
	require.NoError(t, err)
	assert.Contains(t, string(out), `"chosen":[]`)
}

// A target that fits no count of GPUs (QLoRA of a 70B model on a 48 GB
// card, estimator's TestUnfitNamesThePartThatDoesNotShrink) reports the
// parts of a real layout: its own, on one GPU.
func TestReportUnfit(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, estimator.Target{Workload: estimator.QLoRAWork}, "llama-3-70b")
	fit := e.ForGPU(estimator.GPU{Name: "48GB", MemoryBytes: 48e9})
	require.Zero(t, fit.GPUsRequired)
	r := New(e, &estimator.GPU{Name: "48GB", MemoryBytes: 48e9})
	assert.Equal(t, 1, r.GPUs)
	assert.Equal(t, fit.PerGPU.Weights, *r.PerGPUBytes.Weights)
}

// A serving engine's figures in the report are those of ServingEngine on
// the same GPU (estimator's TestServingEngineFollowsTheEngine holds them to
// the engines' logs).
func TestReportServingEngine(t *testing.T) {
	t.Parallel()
	h100 := gpu(t, "h100-80gb")
	for _, target := range []estimator.Target{
		{Engine: estimator.EngineVLLM, EngineProfile: "vllm-v1-0.18", MemoryUtilization: 0.95, Context: 16384},
		{Engine: estimator.EngineVLLM, EngineProfile: "vllm-v1", Context: 16000, BlockSize: 128},
	} {
		e := estimatePreset(t, target, "llama-3.1-8b")
		l, err := e.LayoutFor(1)
		require.NoError(t, err)
		r, err := e.ServingEngine(l, estimator.IdleGPU(h100))
		require.NoError(t, err)
		rep := New(e, &h100)
		assert.Equal(t, r.KVCacheTokens, rep.KVCacheTokens)
		assert.Equal(t, estimator.EngineVLLM, rep.Engine)
		assert.Equal(t, 1, *rep.GPUsRequired)
	}
}

// A serving engine counts its own memory outside the model (non-torch
// memory, CUDA graphs, its CUDA context): the assumptions show that, as
// they show the engine's memory fraction, and a target's own overhead,
// which the engine's accounting does not use, is named in a warning
// instead of being printed as if it had been assumed.
func TestReportServingEngineOverhead(t *testing.T) {
	t.Parallel()
	h100 := gpu(t, "h100-80gb")
	five := int64(5 << 30)
	for _, engine := range []estimator.Engine{estimator.EngineVLLM, estimator.EngineSGLang} {
		plain := New(estimatePreset(t, estimator.Target{Engine: engine}, "llama-3.1-8b"), &h100)
		assert.Equal(t, *plain.PerGPUBytes.Overhead, plain.Assumptions.OverheadBytes, "%s", engine)
		assert.Empty(t, plain.Warnings, "%s", engine)

		own := New(estimatePreset(t, estimator.Target{Engine: engine, Overhead: &five}, "llama-3.1-8b"), &h100)
		assert.Equal(t, plain.PerGPUBytes, own.PerGPUBytes, "%s: the engine's accounting ignores overhead", engine)
		assert.Equal(t, *own.PerGPUBytes.Overhead, own.Assumptions.OverheadBytes, "%s", engine)
		assert.Equal(t, []string{"overhead 5.00 GiB is not used: engine " + string(engine) +
			" counts its own memory outside the model (non-torch memory, CUDA graphs, CUDA context)"}, own.Warnings, "%s", engine)
	}
}

// max_batch and max_context are null where they are unknown (no GPU, a bare
// parameter count, the rule-of-thumb method), never a 0 that reads as
// "nothing fits"; 0 is kept for a known model that fits on no count.
func TestReportLimitsNullWhenUnknown(t *testing.T) {
	t.Parallel()
	h100 := gpu(t, "h100-80gb")
	bare, err := estimator.Estimate(estimator.Target{Name: "bare", Model: model.ModelSource{Parameters: 70e9}, Precision: "bf16"})
	require.NoError(t, err)
	thumb := estimatePreset(t, estimator.Target{Method: estimator.RuleOfThumb, Precision: "bf16"}, "llama-3-8b")
	known := estimatePreset(t, estimator.Target{Precision: "bf16", Context: 4096}, "llama-3-8b")
	unfit := estimatePreset(t, estimator.Target{Precision: "bf16", Context: 4096, TensorParallel: 1, PipelineParallel: 1}, "llama-3.1-405b")
	tests := []struct {
		name     string
		e        *estimator.Estimation
		g        *estimator.GPU
		wantNull bool
	}{
		{"no GPU", known, nil, true},
		{"a bare parameter count", bare, &h100, true},
		{"the rule of thumb", thumb, &h100, true},
		{"a known model", known, &h100, false},
		{"a known model that fits on no count", unfit, &h100, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.e, tc.g)
			if tc.wantNull {
				assert.Nil(t, r.MaxBatch)
				assert.Nil(t, r.MaxContext)
				return
			}
			require.NotNil(t, r.MaxBatch)
			require.NotNil(t, r.MaxContext)
			if *r.GPUsRequired == 0 {
				assert.Zero(t, *r.MaxBatch)
				assert.Zero(t, *r.MaxContext)
			} else {
				assert.Positive(t, *r.MaxBatch)
				assert.Positive(t, *r.MaxContext)
			}
		})
	}
}
