package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator/model"
)

// What a target sets is kept; what it leaves open is chosen, and the fit
// names the chosen fields.
func TestForGPUKeepsTheLayoutTheTargetSets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target Target
		preset string
		gpu    string
		gpus   int
		layout Layout
		chosen []string
	}{
		{"inference replicas count toward the GPUs", Target{TensorParallel: 2, DataParallel: 2}, "llama-3-70b", "h100-80gb",
			4, Layout{2, 1, 2, 0}, []string{"pipeline_parallel"}},
		{"replicas of an open layout", Target{DataParallel: 3}, "llama-3-70b", "h100-80gb",
			6, Layout{2, 1, 3, 0}, []string{"tensor_parallel", "pipeline_parallel"}},
		{"ZeRO stage 0 is plain DDP", Target{Workload: Training, ZeROStage: ptr(0), DataParallel: 4}, "gpt2", "h100-80gb",
			4, Layout{1, 1, 4, 0}, nil},
		{"ZeRO-3 over 8 GPUs stays on 8", Target{Workload: Training, ZeROStage: ptr(3), DataParallel: 8}, "llama-3-8b", "h100-80gb",
			8, Layout{1, 1, 8, 3}, nil},
		{"an open data_parallel with a set stage", Target{Workload: Training, ZeROStage: ptr(3)}, "llama-3-8b", "h100-80gb",
			3, Layout{1, 1, 3, 3}, []string{"data_parallel"}},
		{"a set data_parallel with an open stage", Target{Workload: Training, DataParallel: 4}, "llama-3-8b", "h100-80gb",
			4, Layout{1, 1, 4, 3}, []string{"zero_stage"}},
		{"both open", Target{Workload: Training}, "llama-3-8b", "h100-80gb",
			3, Layout{1, 1, 3, 3}, []string{"data_parallel", "zero_stage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := estimatePreset(t, tc.target, tc.preset)
			fit := e.ForGPU(gpu(t, tc.gpu))
			require.Empty(t, fit.UnfitReason)
			assert.Equal(t, tc.gpus, fit.GPUsRequired)
			assert.Equal(t, tc.layout, fit.Layout)
			assert.Equal(t, tc.chosen, fit.Chosen)
			checkSmallest(t, e, fit)
		})
	}
}

// A fully set layout is the need exported when NVML cannot be read (the
// target's own layout) and on a GPU: the two are the same bytes.
// An open zero_stage is the same in both: 3 with more than one data-parallel
// GPU.
func TestASetLayoutNeedsTheSameBytesWithOrWithoutAGPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target Target
		layout Layout
	}{
		{Target{Workload: Training, ZeROStage: ptr(3), DataParallel: 8}, Layout{1, 1, 8, 3}},
		{Target{Workload: Training, DataParallel: 4}, Layout{1, 1, 4, 3}},
		{Target{Workload: LoRAWork, DataParallel: 2, ZeROStage: ptr(0)}, Layout{1, 1, 2, 0}},
	} {
		e := estimatePreset(t, tc.target, "llama-3-8b")
		fit := e.ForGPU(gpu(t, "h100-80gb"))
		assert.Equal(t, tc.layout, e.Requirement().Layout)
		assert.Equal(t, tc.layout, fit.Layout)
		assert.Equal(t, e.Requirement().Components, fit.PerGPU)
	}
}

// Plain DDP does not shard the model states: when they do not fit, more
// replicas cannot help, and the reason says what would.
func TestDDPThatDoesNotFitSaysWhatWouldHelp(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, Target{Workload: Training, ZeROStage: ptr(0), DataParallel: 4}, "llama-3-8b")
	fit := e.ForGPU(gpu(t, "h100-80gb"))
	assert.Zero(t, fit.GPUsRequired)
	assert.Equal(t, Layout{1, 1, 4, 0}, fit.Layout)
	assert.Equal(t, e.Requirement().Components, fit.PerGPU)
	assert.Contains(t, fit.UnfitReason, "the target's layout sets 4 GPUs (tensor_parallel 1, pipeline_parallel 1, data_parallel 4), and each h100-80gb would need 139.63 GiB of the 79.65 GiB usable; the largest part is optimizer")
	assert.Contains(t, fit.UnfitReason, "would help: zero_stage: 3, leaving data_parallel open, optimizer_dtype: int8, offloading the optimizer states to CPU memory")
}

// QLoRA of a 70B model on a 48 GB card: activations alone exceed it. The
// parts reported are those of a real layout (the 70B base is tens of GiB
// on one GPU, not a 4096th of it), and the reason names the activations
// and what shrinks them.
func TestUnfitNamesThePartThatDoesNotShrink(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, Target{Workload: QLoRAWork}, "llama-3-70b")
	fit := e.ForGPU(GPU{Name: "48GB", MemoryBytes: 48e9})
	assert.Zero(t, fit.GPUsRequired)
	assert.Equal(t, e.Requirement().Components, fit.PerGPU)
	assert.Greater(t, fit.PerGPU.Weights, int64(30<<30))
	assert.Contains(t, fit.UnfitReason, "(on 4096 GPUs,")
	assert.Contains(t, fit.UnfitReason, "its largest part, activations, 87.04 GiB, does not shrink further with more GPUs; "+
		"would help: recompute: selective or full, sequence_parallel with tensor_parallel, a shorter context")
}

func TestRemedies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target Target
		part   string
		want   []string
	}{
		{"inference activations", Target{Batch: 4}, "activations", []string{"a smaller max_batched_tokens", "a smaller batch"}},
		{"selective recomputation", Target{Workload: Training, Recompute: RecomputeSelective, SequenceParallel: true, TensorParallel: 2}, "activations",
			[]string{"recompute: full", "a shorter context"}},
		{"kv cache", Target{Batch: 2, TensorParallel: 2}, "kv_cache",
			[]string{"a shorter context", "a smaller batch", "kv_cache_dtype: fp8", "leaving tensor_parallel open"}},
		{"fp8 kv cache", Target{KVCacheDType: "fp8"}, "kv_cache", []string{"a shorter context"}},
		{"training weights on ZeRO 1", Target{Workload: Training, ZeROStage: ptr(1), DataParallel: 2}, "weights",
			[]string{"zero_stage: 3", "leaving data_parallel open", "a narrower precision", "offloading the weights to CPU memory"}},
		{"8-bit optimizer", Target{Workload: Training, OptimizerDType: "int8"}, "optimizer", []string{"offloading the optimizer states to CPU memory"}},
		{"overhead", Target{}, "overhead", []string{"a smaller overhead"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := estimatePreset(t, tc.target, "llama-3-8b")
			assert.Equal(t, tc.want, e.remedies(tc.part))
		})
	}
}

// Replicas of a set layout run on one count of GPUs: the reason says so
// rather than "no number fits".
func TestUnfitSetLayoutWithReplicas(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, Target{TensorParallel: 2, PipelineParallel: 1, DataParallel: 2, Batch: 1 << 20}, "llama-3-8b")
	fit := e.ForGPU(gpu(t, "h100-80gb"))
	assert.Zero(t, fit.GPUsRequired)
	assert.Equal(t, Layout{2, 1, 2, 0}, fit.Layout)
	assert.Contains(t, fit.UnfitReason, "the target's layout sets 4 GPUs (tensor_parallel 2, pipeline_parallel 1, data_parallel 2), and each h100-80gb would need ")
	assert.Contains(t, fit.UnfitReason, "the largest part is kv_cache")
}

// The search is bounded by MaxGPUs, and so is a layout a target sets.
func TestLayoutBeyondMaxGPUs(t *testing.T) {
	t.Parallel()
	_, err := Estimate(Target{Name: "big", Model: model.ModelSource{Preset: "llama-3-8b"}, TensorParallel: 8, DataParallel: 1024})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data_parallel: the layout tensor_parallel × pipeline_parallel × data_parallel = 8192 GPUs is more than the 4096 this planner places")
}
