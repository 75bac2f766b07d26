package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

// A target that fits on no count of GPUs reports the largest placement it
// has a layout for, and that placement's need: never an empty layout with
// a need of 0 bytes, which the exporter would export as the requirement.
// The last count placement tries may have no layout: for GPT-2 (12 heads and
// 12 layers in its config.json) 96 GPUs would be TP 6 × 16 stages.
func TestUnfitReportsARealPlacement(t *testing.T) {
	t.Parallel()
	h100 := GPU{Name: "h100-80gb", MemoryBytes: 80 << 30}
	tests := []struct {
		name   string
		target Target
		want   Layout
	}{
		{"gpt2 with a million sequences", Target{Model: model.ModelSource{Preset: "gpt2"}, Batch: 1 << 20},
			Layout{TensorParallel: 6, PipelineParallel: 12, DataParallel: 1}},
		{"gpt2 pinned to 2 stages", Target{Model: model.ModelSource{Preset: "gpt2"}, Batch: 1 << 20, PipelineParallel: 2},
			Layout{TensorParallel: 6, PipelineParallel: 2, DataParallel: 1}},
		{"a bare count pinned to TP 2 × PP 2", Target{Model: model.ModelSource{Parameters: 7e12}, TensorParallel: 2, PipelineParallel: 2},
			Layout{TensorParallel: 2, PipelineParallel: 2, DataParallel: 1}},
		{"llama-3-8b with a million sequences", Target{Model: model.ModelSource{Preset: "llama-3-8b"}, Batch: 1 << 20},
			Layout{TensorParallel: 8, PipelineParallel: 32, DataParallel: 1}},
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
			assert.Greater(t, fit.PerGPU.Total, fit.Usable)
			assert.Contains(t, fit.UnfitReason, "no number of h100-80gb fits: even on ")
			assert.NotContains(t, fit.UnfitReason, "on 0 GPUs")
		})
	}
}
