package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

// A target that fits on no count of GPUs reports its own layout and that
// layout's need (never an empty layout with a need of 0 bytes, nor one
// computed on thousands of GPUs), and its reason is read off the largest
// placement that has a layout: for GPT-2 (12 heads and 12 layers in its
// config.json) 96 GPUs would be TP 6 × 16 stages, so 72 is the largest.
func TestUnfitReportsARealPlacement(t *testing.T) {
	t.Parallel()
	h100 := GPU{Name: "h100-80gb", MemoryBytes: 80 << 30}
	tests := []struct {
		name   string
		target Target
		want   Layout
		reason string
	}{
		// One layer per stage, 2 of 12 KV heads per GPU: 2 · 2 · 64 · 2
		// bytes × 1024 tokens × 2^20 sequences = 512 GiB of KV cache.
		{"gpt2 with a million sequences", Target{Model: model.ModelSource{Preset: "gpt2"}, Batch: 1 << 20},
			Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: 1},
			"however many share the target, each needs at least 709.37 GiB of the 72.00 GiB usable (on 72 GPUs, tensor_parallel 6, pipeline_parallel 12), " +
				"and its largest part, kv_cache, 512.00 GiB, does not shrink further"},
		{"gpt2 pinned to 2 stages", Target{Model: model.ModelSource{Preset: "gpt2"}, Batch: 1 << 20, PipelineParallel: 2},
			Layout{TensorParallel: 1, PipelineParallel: 2, DataParallel: 1}, "(on 12 GPUs, tensor_parallel 6, pipeline_parallel 2)"},
		{"a bare count pinned to TP 2 × PP 2", Target{Model: model.ModelSource{Parameters: 7e12}, TensorParallel: 2, PipelineParallel: 2},
			Layout{TensorParallel: 2, PipelineParallel: 2, DataParallel: 1},
			"the target's layout sets 4 GPUs (tensor_parallel 2, pipeline_parallel 2), and each h100-80gb would need 3260.63 GiB of the 72.00 GiB usable; " +
				"the largest part is weights, 3259.63 GiB; would help: leaving tensor_parallel open, leaving pipeline_parallel open, a narrower precision"},
		{"llama-3-8b with a million sequences", Target{Model: model.ModelSource{Preset: "llama-3-8b"}, Batch: 1 << 20},
			Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: 1}, "(on 256 GPUs, tensor_parallel 8, pipeline_parallel 32)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := tc.target
			target.Name = "unfit"
			e, err := Estimate(target)
			require.NoError(t, err)
			fit := e.ForGPU(h100)
			require.Zero(t, fit.GPUsRequired)
			assert.Equal(t, tc.want, fit.Layout)
			perGPU, err := e.PerGPU(tc.want.GPUs())
			require.NoError(t, err)
			assert.Equal(t, perGPU, fit.PerGPU)
			assert.Equal(t, e.Requirement().Components, fit.PerGPU)
			assert.Greater(t, fit.PerGPU.Total, fit.Usable)
			assert.Contains(t, fit.UnfitReason, tc.reason)
			assert.NotContains(t, fit.UnfitReason, "on 0 GPUs")
		})
	}
}
