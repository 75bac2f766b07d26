package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

// The seed article's worked examples (DESIGN.md § Methods), exact.
func TestRuleOfThumbSeedExamples(t *testing.T) {
	t.Parallel()
	ruleTarget := func(workload Workload, precision string) Target {
		return Target{Name: "7b", Model: model.ModelSource{Parameters: 7e9}, Method: RuleOfThumb, Workload: workload, Precision: precision}
	}
	// "7B BF16 model state = 112e9 bytes ≈ 104 GiB": (2 + 2 + 12) × 7e9.
	e, err := Estimate(ruleTarget(Training, "bf16"))
	require.NoError(t, err)
	c := e.Requirement().Components
	assert.Equal(t, int64(112e9), c.Weights+c.Gradients+c.Optimizer)
	assert.Equal(t, int64(112e9), c.Total)
	assert.InDelta(t, 104, float64(c.Total)/(1<<30), 0.5)

	// "7B on 24 GB cards → 7 GPUs, on 40 GB → 4": ceil(7 × 18 × 1.25 / GB).
	for _, tc := range []struct {
		gpu  string
		want int
	}{{"24GB", 7}, {"40GB", 4}, {"rtx-4090-24gb", 7}, {"a100-40gb", 4}} {
		g, err := LookupGPU(tc.gpu)
		require.NoError(t, err)
		fit := e.ForGPU(g)
		assert.Equal(t, tc.want, fit.GPUsRequired, tc.gpu)
		assert.Empty(t, fit.UnfitReason)
	}

	// "A 7B model needs 28 GB in FP32, 14 GB in BF16, 7 GB in INT8".
	for _, tc := range []struct {
		precision string
		want      int64
	}{{"fp32", 28e9}, {"bf16", 14e9}, {"int8", 7e9}} {
		e, err := Estimate(ruleTarget(Inference, tc.precision))
		require.NoError(t, err)
		assert.Equal(t, tc.want, e.Requirement().Total, tc.precision)
	}

	// "A 7 GB INT8 model runs 3 times on one 24 GB card", and inference
	// takes training's GPU count / 8: ceil(7 / 8) = 1.
	e, err = Estimate(ruleTarget(Inference, "int8"))
	require.NoError(t, err)
	g, err := LookupGPU("24GB")
	require.NoError(t, err)
	fit := e.ForGPU(g)
	assert.Equal(t, 1, fit.GPUsRequired)
	assert.Equal(t, 3, fit.Replicas)
}

func TestRuleOfThumbLlama3(t *testing.T) {
	t.Parallel()
	// REFERENCES §3, seed B: Llama-3-8B → 8.03 × 22.5 = 180.7 GB / 80 GB =
	// 2.26 → 3 GPUs.
	e := estimatePreset(t, Target{Method: RuleOfThumb, Workload: Training}, "llama-3-8b")
	g, err := LookupGPU("80GB")
	require.NoError(t, err)
	assert.Equal(t, 3, e.ForGPU(g).GPUsRequired)
	// Rule A with bf16 gradients is 16 bytes per parameter, the ZeRO paper's figure.
	assert.Equal(t, int64(16*8030261248), e.Requirement().Total)
	assert.Equal(t, []string{"activations"}, e.Requirement().Unknown)
	assert.Zero(t, e.MaxBatch(80<<30, 1), "the rules do not depend on the batch")
}

// Rule C (training GPUs / 8) undercounts weights above about 2.8 bytes per
// parameter: 7B in fp32 is 28 GB (the seed's own figure), which one 24 GB
// card cannot hold although ceil(7 / 8) = 1. The count is then the fewest
// GPUs the weights fit on, so gpus_required and the fit never disagree.
func TestRuleOfThumbInferenceCountHoldsTheWeights(t *testing.T) {
	t.Parallel()
	e, err := Estimate(Target{Name: "7b", Model: model.ModelSource{Parameters: 7e9}, Method: RuleOfThumb, Workload: Inference, Precision: "fp32"})
	require.NoError(t, err)
	g, err := LookupGPU("24GB")
	require.NoError(t, err)
	fit := e.ForGPU(g)
	assert.Equal(t, 2, fit.GPUsRequired) // ceil(28 / 24)
	assert.LessOrEqual(t, fit.PerGPU.Total, fit.Usable)
	assert.Empty(t, fit.UnfitReason)
}

// A GPU whose driver reserves all of its memory offers nothing: the rules
// divide by the GPU's size, so this must be an unfit reason, not a panic.
func TestRuleOfThumbGPUWithoutMemory(t *testing.T) {
	t.Parallel()
	for _, w := range []Workload{Inference, Training} {
		e, err := Estimate(Target{Name: "7b", Model: model.ModelSource{Parameters: 7e9}, Method: RuleOfThumb, Workload: w})
		require.NoError(t, err)
		fit := e.ForGPU(GPU{Name: "reserved", MemoryBytes: 0})
		assert.Zero(t, fit.GPUsRequired, w)
		assert.Equal(t, "reserved offers no usable memory", fit.UnfitReason, w)
	}
}
