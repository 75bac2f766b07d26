package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/vramfit/vramfit/estimator/model"
)

func modelStateBytes(c Components) int64 { return c.Weights + c.Gradients + c.Optimizer }

func TestModelStatesZeRO(t *testing.T) {
	t.Parallel()
	// ZeRO paper (Rajbhandari et al., 2020), Figure 1: Ψ = 7.5B parameters,
	// N_d = 64 GPUs, mixed-precision Adam (K = 12): 120 GB per GPU for the
	// baseline, 31.4 GB with P_os, 16.6 GB with P_os+g, 1.9 GB with P_os+g+p.
	tests := []struct {
		stage int
		want  int64
	}{
		{0, 120e9},
		{1, 31_406_250_000},
		{2, 16_640_625_000},
		{3, 1_875_000_000},
	}
	for _, tc := range tests {
		e, err := Estimate(Target{Name: "zero", Model: model.ModelSource{Parameters: 7.5e9}, Workload: Training,
			DataParallel: 64, ZeROStage: ptr(tc.stage)})
		if !assert.NoError(t, err) {
			continue
		}
		assert.Equal(t, tc.want, modelStateBytes(e.Requirement().Components), "stage %d", tc.stage)
	}
}

func TestModelStatesDeepSpeedZeRO3(t *testing.T) {
	t.Parallel()
	// DeepSpeed docs (memory.rst), estimate_zero3_model_states_mem_needs:
	// t5-large, 737.67M parameters, largest layer 32.90M, 4 GPUs, no offload:
	// 3291 MB per GPU = 4·largest_layer + 18·N/G (bf16 weights, fp32
	// gradients, fp32 master weights and Adam states).
	t5 := model.Model{Name: "t5-large", KnownArchitecture: true, Parameters: 737_670_000, ActiveParameters: 737_670_000,
		Layers: 1, LayerParameters: 32_900_000, EmbeddingParameters: 737_670_000 - 32_900_000, TiedEmbeddings: true,
		HiddenSize: 1024, Heads: 16, KVHeads: 16, HeadDim: 64}
	e := estimateModel(t, Target{Workload: Training, GradientDType: "fp32", DataParallel: 4, ZeROStage: ptr(3)}, t5)
	got := modelStateBytes(e.Requirement().Components)
	assert.Equal(t, int64(4*32_900_000+18*737_670_000/4), got)
	assert.InDelta(t, 3291, float64(got)/(1<<20), 0.5)
}

func TestBytesPerParameter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target Target
		want   int64 // bytes per parameter
	}{
		// ZeRO paper; Transformer Math 101: bf16 weights and gradients, fp32
		// AdamW (master copy, momentum, variance): 2 + 2 + 12.
		{"mixed precision", Target{}, 16},
		// Megatron-LM theoretical_memory_usage.py, HF "Model training
		// anatomy": fp32 gradients make it 18.
		{"fp32 gradients", Target{GradientDType: "fp32"}, 18},
		// Pure fp32: no separate master copy, 4 + 4 + 8 (REFERENCES §3, seed A's issue).
		{"pure fp32", Target{Precision: "fp32"}, 16},
		// Transformer Math 101: 8-bit optimizers 6 bytes (4 + 1 + 1).
		{"8-bit adam", Target{OptimizerDType: "int8"}, 2 + 2 + 6},
		// Transformer Math 101: SGD with momentum 8 bytes (4 + 4).
		{"sgd momentum", Target{Optimizer: SGDMomentum}, 2 + 2 + 8},
		{"sgd", Target{Optimizer: SGD}, 2 + 2 + 4},
	}
	const n = 1_000_000_000
	for _, tc := range tests {
		tc.target.Name, tc.target.Model, tc.target.Workload = tc.name, model.ModelSource{Parameters: n}, Training
		e, err := Estimate(tc.target)
		if assert.NoError(t, err, tc.name) {
			assert.Equal(t, tc.want*n, modelStateBytes(e.Requirement().Components), tc.name)
		}
	}
}

func TestModelStatesShardedByTensorParallel(t *testing.T) {
	t.Parallel()
	// With tensor parallelism every weight matrix is split: the model states
	// per GPU are a t-th of one GPU's (the presets' layer and embedding
	// counts divide evenly by 8).
	single := estimatePreset(t, Target{Workload: Training}, "llama-3-8b").Requirement()
	tp8 := estimatePreset(t, Target{Workload: Training, TensorParallel: 8}, "llama-3-8b").Requirement()
	assert.Equal(t, modelStateBytes(single.Components), 8*modelStateBytes(tp8.Components))
	assert.Equal(t, int64(16*8030261248), modelStateBytes(single.Components))
}
