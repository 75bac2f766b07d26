package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

func TestLoRAParameters(t *testing.T) {
	t.Parallel()
	m := presetModel(t, "llama-2-7b")
	tests := []struct {
		name string
		lora *LoRA
		want float64
	}{
		// REFERENCES §1.11: Llama-2-7B, r = 64 on all 7 linears: 4,997,120
		// per layer × 32 = 159,907,840 (r·(d_in + d_out) per matrix, Hu et al.).
		{"all linears r64", &LoRA{Rank: 64}, 159_907_840},
		// PEFT's default r = 8 on q_proj and v_proj: 8·(4096+4096)·2 per layer.
		{"q and v r8", &LoRA{Modules: []string{"q_proj", "v_proj"}}, 8 * 8192 * 2 * 32},
	}
	for _, tc := range tests {
		a, err := adapterParameters(tc.lora, m)
		require.Nil(t, err, tc.name)
		assert.Equal(t, tc.want, a.params, tc.name)
	}
	// Mixtral's experts carry one adapter each.
	a, err := adapterParameters(&LoRA{Rank: 1, Modules: []string{"w1"}}, presetModel(t, "mixtral-8x7b"))
	require.Nil(t, err)
	assert.Equal(t, float64((4096+14336)*8*32), a.params)
	// w1 is a third of each expert's weights, and the experts nearly all of
	// the layers' linear weights.
	assert.InDelta(t, 1.0/3, a.baseShare, 0.01)
}

// llama65B is LLaMA-65B from its params.json (dim 8192, 80 layers, 64
// heads, multiple_of 256 → ffn 22016, vocab 32000).
func llama65B(t *testing.T) model.Model {
	m, err := model.Architecture{ModelType: "llama", HiddenSize: 8192, IntermediateSize: 22016, NumHiddenLayers: 80,
		NumAttentionHeads: 64, NumKeyValueHeads: 64, VocabSize: 32000, MaxPositionEmbeddings: 2048}.Model("llama-65b")
	require.NoError(t, err)
	// Touvron et al. 2023 (LLaMA), Table 2: 65.2B parameters (truncated;
	// the exact count is 65,285,660,672).
	require.Equal(t, int64(65_285_660_672), m.Parameters)
	return m
}

func TestQLoRAPaper(t *testing.T) {
	t.Parallel()
	m := llama65B(t)
	// Dettmers et al. 2023 (QLoRA), abstract: QLoRA "reduces the average
	// memory requirements of finetuning a 65B parameter model from >780GB of
	// GPU memory to <48GB". Their setup: NF4 with double quantisation,
	// LoRA r = 64 on every linear layer with bf16 adapters, gradient
	// checkpointing, 512 tokens, and paged optimizers, whose states live in
	// unified memory that pages to the host under pressure.
	q := estimateModel(t, Target{Workload: QLoRAWork, LoRA: &LoRA{Rank: 64, DType: "bf16"}, Optimizer: PagedAdamW32bit,
		Recompute: RecomputeFull, Context: 512}, m).Requirement()
	assert.Less(t, q.Total, int64(48e9))
	assert.Positive(t, q.Host)
	// The 4-bit base alone stays under the 41 GB the paper lists for Guanaco
	// 65B (Table: memory footprint), which adds the adapters and buffers.
	base := estimateModel(t, Target{Workload: QLoRAWork}, m).frozenWeights(one())
	assert.Less(t, base, 41e9)

	full := estimateModel(t, Target{Workload: Training, Recompute: RecomputeFull, Context: 512}, m).Requirement()
	assert.Greater(t, full.Total, int64(780e9))

	// QLoRA Figure 6: the 4-bit LLaMA-7B base model "consumes 5,048 MB"
	// as measured, which includes buffers beyond the weights themselves.
	base7 := estimatePreset(t, Target{Workload: QLoRAWork}, "llama-2-7b").frozenWeights(one())
	assert.Less(t, base7, 5048e6)
	// Its linear layers are stored at 4.127 bits; embeddings, the LM head and
	// norms stay in 16 bits.
	m7 := presetModel(t, "llama-2-7b")
	// 32 layers of 4·4096² + 3·4096·11008.
	linear := 32.0 * (4*4096*4096 + 3*4096*11008)
	require.Equal(t, linear, estimateModel(t, Target{}, m7).paramSplit(one()).linear)
	assert.InDelta(t, linear*model.NF4DoubleQuantBits/8+2*(float64(m7.Parameters)-linear), base7, 1)
}

func TestLoRAComponents(t *testing.T) {
	t.Parallel()
	// r = 64 on all linears of Llama-2-7B: 159,907,840 fp32 adapters (PEFT's
	// default), 4 bytes of gradients and 8 of AdamW states each (no master
	// copy for fp32 weights), beside the frozen bf16 base.
	e := estimatePreset(t, Target{Workload: LoRAWork, LoRA: &LoRA{Rank: 64}}, "llama-2-7b")
	c := e.Requirement().Components
	assert.Equal(t, int64(2*6738415616+4*159907840), c.Weights)
	assert.Equal(t, int64(4*159907840), c.Gradients)
	assert.Equal(t, int64(8*159907840), c.Optimizer)
}

// ZeRO-3 shards lora's frozen base weights and gathers the largest layer at
// a time, as it does in full training (DeepSpeed's largest-layer term): the
// per-GPU weights are the shard plus that layer, never the shard alone.
func TestLoRAZeRO3GathersTheLargestLayer(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, Target{Workload: LoRAWork, DataParallel: 8, ZeROStage: ptr(3)}, "llama-3-70b")
	m := e.Model()
	r := e.Requirement()
	require.Equal(t, Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: 8, ZeROStage: 3}, r.Layout)
	c := r.Components
	// bf16 frozen weights: 2 bytes × (N / 8 + the embedding matrix, Llama-3-70B's largest unit).
	largest := int64(m.VocabSize) * int64(m.HiddenSize) // 128256 × 8192 > one decoder layer
	require.Greater(t, largest, m.LayerParameters)
	adapters := c.Weights - (2*m.Parameters/8 + 2*largest)
	assert.GreaterOrEqual(t, adapters, int64(0), "the gathered layer is counted")
	assert.Less(t, adapters, int64(1<<30), "only the adapters remain: %d bytes", adapters)
}
