package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Korthikanti et al. (2022), Table 2, at the Llama-2-7B geometry the seed
// uses (REFERENCES §3, seed D): h = 4096, a = 32, L = 32, V = 32000,
// s = 4096, b = 1, p = 2 (16-bit), standard attention with dropout.
func TestTrainingActivationsKorthikanti(t *testing.T) {
	t.Parallel()
	const (
		s, b, h, a, layers = 4096, 1, 4096, 32, 32
		sbh                = s * b * h
		logits             = 4 * s * b * 32000 // fp32 logits of the loss
	)
	tests := []struct {
		name     string
		target   Target
		tp       int
		perLayer int64
	}{
		// No parallelism: sbh(34 + 5as/h) = 3.031 GiB per layer; the seed's
		// simplified form L·b·s·h·p·[16 + 2/p + (a·s/h)(2 + 1/p)] gives the same.
		{"no parallelism", Target{}, 1, sbh * (34 + 5*a*s/h)},
		// Tensor parallel: sbh(10 + 24/t + 5as/(ht)).
		{"tensor parallel 8", Target{TensorParallel: 8}, 8, sbh * (10 + 24/8 + 5*a*s/(h*8))},
		// Tensor + sequence parallel: sbh/t · (34 + 5as/h).
		{"tensor + sequence parallel 8", Target{TensorParallel: 8, SequenceParallel: true}, 8, sbh / 8 * (34 + 5*a*s/h)},
		// Tensor parallel + selective recompute: sbh(10 + 24/t).
		{"selective, tensor parallel 8", Target{TensorParallel: 8, Recompute: RecomputeSelective}, 8, sbh * (10 + 24/8)},
		// Tensor + sequence parallel + selective: sbh · 34/t.
		{"selective, sequence parallel 8", Target{TensorParallel: 8, SequenceParallel: true, Recompute: RecomputeSelective}, 8, sbh * 34 / 8},
		// fp32 activations, the seed's form at p = 4: sbh(16p + 2) + as²b(2p + 1).
		{"fp32", Target{Precision: "fp32"}, 1, sbh*(16*4+2) + a*s*s*b*(2*4+1)},
	}
	for _, tc := range tests {
		tc.target.Workload, tc.target.Context, tc.target.Batch, tc.target.FlashAttention = Training, s, b, ptr(false)
		e := estimatePreset(t, tc.target, "llama-2-7b")
		l := Layout{TensorParallel: tc.tp, PipelineParallel: 1, DataParallel: 1}
		got := e.trainingActivations(l, b, s)
		assert.Equal(t, float64(layers*tc.perLayer+logits/int64(tc.tp)), got, tc.name)
	}
	// REFERENCES §3: 3.031 GiB per layer, 97.0 GiB for 32 layers.
	assert.InDelta(t, 3.031, float64(sbh*(34+5*a*s/h))/(1<<30), 0.0005)
	assert.InDelta(t, 97.0, float64(layers*sbh*(34+5*a*s/h))/(1<<30), 0.05)
}

func TestTrainingActivationsVariants(t *testing.T) {
	t.Parallel()
	const s, h, a, layers = 4096, 4096, 32, 32
	const sbh = s * h
	base := Target{Workload: Training, Context: s, Batch: 1}
	logits := float64(4 * s * 32000)

	// FlashAttention keeps no s×s matrix: the output (already counted as the
	// out-projection's input) and an fp32 log-sum-exp, 4·a·s·b bytes.
	e := estimatePreset(t, base, "llama-2-7b")
	assert.Equal(t, float64(layers*(34*sbh+4*a*s))+logits, e.trainingActivations(one(), 1, s))

	// Full recomputation keeps each layer's input (2sbh at 16 bits, Korthikanti
	// Table 2) and rebuilds one layer's activations at a time.
	full := base
	full.Recompute, full.FlashAttention = RecomputeFull, ptr(false)
	e = estimatePreset(t, full, "llama-2-7b")
	assert.Equal(t, float64(layers*2*sbh+34*sbh+5*a*s*s)+logits, e.trainingActivations(one(), 1, s))

	// Pipeline parallelism does not divide them: the first stage holds L
	// layers' worth under 1F1B (Korthikanti §4.2.3).
	e = estimatePreset(t, base, "llama-2-7b")
	assert.Equal(t, e.trainingActivations(one(), 1, s),
		e.trainingActivations(Layout{TensorParallel: 1, PipelineParallel: 4, DataParallel: 1}, 1, s))
}

func TestInferenceWorkspace(t *testing.T) {
	t.Parallel()
	// Llama-3-8B, one sequence of 4096 tokens: the MLP's working set is the
	// largest, 4096 tokens × 2 bytes × (2·4096 + 3·14336), plus fp32 logits
	// for the sequence (128,256 × 4 bytes).
	e := estimatePreset(t, Target{Context: 4096}, "llama-3-8b")
	want := 4096*2*(2*4096+3*14336) + 128256*4
	assert.Equal(t, int64(want), e.Requirement().Activations)

	// The engine runs at most max_batched_tokens through the model at once.
	e = estimatePreset(t, Target{Context: 32768, Batch: 8, MaxBatchedTokens: 2048}, "llama-3.1-8b")
	want = 2048*2*(2*4096+3*14336) + 8*128256*4
	assert.Equal(t, int64(want), e.Requirement().Activations)

	// Without FlashAttention the scores of 2048 tokens against 4096 keys, in
	// all 32 heads, twice (scores and softmax), outgrow the MLP.
	e = estimatePreset(t, Target{Context: 4096, MaxBatchedTokens: 2048, FlashAttention: ptr(false)}, "llama-3-8b")
	attention := 2048*2*(2*4096+2*32*128+2*8*128) + 2*32*2048*4096*2
	assert.Equal(t, int64(attention+128256*4), e.Requirement().Activations)
}
