package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

func gpu(t testing.TB, name string) GPU {
	t.Helper()
	g, err := LookupGPU(name)
	require.NoError(t, err)
	return g
}

// checkSmallest fails unless fit's count is the smallest that fits.
func checkSmallest(t *testing.T, e *Estimation, fit Fit) {
	t.Helper()
	require.Positive(t, fit.GPUsRequired, fit.UnfitReason)
	c, err := e.PerGPU(fit.GPUsRequired)
	require.NoError(t, err)
	assert.Equal(t, fit.PerGPU, c)
	assert.LessOrEqual(t, c.Total, fit.Usable)
	for n := 1; n < fit.GPUsRequired; n++ {
		if c, err := e.PerGPU(n); err == nil {
			assert.Greater(t, c.Total, fit.Usable, "%d GPUs would fit too", n)
		}
	}
}

func TestForGPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		preset string
		target Target
		gpu    string
		check  func(*testing.T, Fit)
	}{
		{"llama-3-8b bf16 fits one H100 several times", "llama-3-8b", Target{}, "h100-80gb", func(t *testing.T, f Fit) {
			assert.Equal(t, 1, f.GPUsRequired)
			assert.Equal(t, int(f.Usable/f.PerGPU.Total), f.Replicas)
		}},
		{"llama-3-70b bf16 takes tensor parallelism", "llama-3-70b", Target{}, "h100-80gb", func(t *testing.T, f Fit) {
			// 141 GB of bf16 weights cannot fit in one 80 GB GPU.
			assert.GreaterOrEqual(t, f.GPUsRequired, 2)
			assert.Equal(t, f.GPUsRequired, f.Layout.TensorParallel*f.Layout.PipelineParallel)
		}},
		{"yobitel: Llama-3.1-405B in FP8 at 128K fits 8 H200s with TP 8", "llama-3.1-405b",
			Target{Precision: "fp8", Context: 131072}, "h200-141gb", func(t *testing.T, f Fit) {
				assert.LessOrEqual(t, f.GPUsRequired, 8)
			}},
		{"training shards by ZeRO-3 on top of tensor parallelism", "llama-3-70b",
			Target{Workload: Training, TensorParallel: 8, Recompute: RecomputeSelective}, "h100-80gb", func(t *testing.T, f Fit) {
				assert.Equal(t, 8, f.Layout.TensorParallel)
				assert.Equal(t, 3, f.Layout.ZeROStage)
				assert.Equal(t, f.GPUsRequired, 8*f.Layout.DataParallel)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := estimatePreset(t, tc.target, tc.preset)
			fit := e.ForGPU(gpu(t, tc.gpu))
			checkSmallest(t, e, fit)
			tc.check(t, fit)
		})
	}
}

func TestForGPUVLLMPaper(t *testing.T) {
	t.Parallel()
	// vLLM paper §1: serving a 13B model on an A100-40GB, the weights take
	// about 65% of its 40 GB (decimal: 26 GB of bf16 weights).
	e := estimatePreset(t, Target{}, "llama-2-13b")
	fit := e.ForGPU(gpu(t, "a100-40gb"))
	require.Equal(t, 1, fit.GPUsRequired)
	assert.InDelta(t, 0.65, float64(fit.PerGPU.Weights)/40e9, 0.01)
}

func TestForGPUUnfit(t *testing.T) {
	t.Parallel()
	// 64 sequences of 32k tokens of activations per GPU do not shrink with
	// more data-parallel GPUs. The search stops at MaxGPUs, and the need
	// shown is the target's own layout's.
	e := estimatePreset(t, Target{Workload: Training, Context: 32768, Batch: 64}, "llama-3.1-8b")
	fit := e.ForGPU(gpu(t, "h100-80gb"))
	assert.Zero(t, fit.GPUsRequired)
	assert.Contains(t, fit.UnfitReason, "no number of h100-80gb fits: however many share the target, each needs at least 9716.99 GiB of the 79.65 GiB usable (on 4096 GPUs,")
	assert.Contains(t, fit.UnfitReason, "its largest part, activations, 9714.00 GiB, does not shrink further with more GPUs; would help: recompute: selective or full,")
	assert.Equal(t, e.Requirement().Components, fit.PerGPU)
	assert.Equal(t, Layout{1, 1, 1, 0}, fit.Layout)
}

func TestPerGPULayouts(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, Target{}, "llama-3-70b")
	tests := []struct {
		gpus int
		want Layout
	}{
		{1, Layout{1, 1, 1, 0}}, {2, Layout{2, 1, 1, 0}}, {8, Layout{8, 1, 1, 0}},
		// 64 heads and 8 KV heads: 6 GPUs are TP 2 × PP 3; 16 are TP 8 × PP 2.
		{6, Layout{2, 3, 1, 0}}, {16, Layout{8, 2, 1, 0}}, {3, Layout{1, 3, 1, 0}},
	}
	for _, tc := range tests {
		l, err := e.LayoutFor(tc.gpus)
		require.NoError(t, err)
		assert.Equal(t, tc.want, l, "%d GPUs", tc.gpus)
	}
	_, err := e.PerGPU(0)
	assert.EqualError(t, err, "gpu count 0: want 1 to 4096")
	_, err = e.PerGPU(1000)
	assert.EqualError(t, err, "1000 GPUs need 125 pipeline stages, more than the model's 80 layers")

	pinned := estimatePreset(t, Target{TensorParallel: 4}, "llama-3-70b")
	_, err = pinned.PerGPU(6)
	assert.EqualError(t, err, "6 GPUs is not a multiple of the target's tensor_parallel 4")
	both := estimatePreset(t, Target{TensorParallel: 4, PipelineParallel: 2}, "llama-3-70b")
	_, err = both.PerGPU(4)
	assert.EqualError(t, err, "the target pins tensor_parallel 4 and pipeline_parallel 2: it runs on 8 GPUs, not 4")
	training := estimatePreset(t, Target{Workload: Training, TensorParallel: 2, ZeROStage: ptr(1)}, "llama-3-8b")
	l, err := training.LayoutFor(8)
	require.NoError(t, err)
	assert.Equal(t, Layout{2, 1, 4, 1}, l, "a pinned ZeRO stage 1 or 2 is kept")
}

func TestUsable(t *testing.T) {
	t.Parallel()
	inference := estimatePreset(t, Target{}, "gpt2")
	// (80 − 1) GiB × 0.90, rounded down.
	assert.Equal(t, int64(76343043686), inference.Usable(80<<30, 1<<30))
	assert.Zero(t, inference.Usable(1<<30, 2<<30))
	training := estimatePreset(t, Target{Workload: Training}, "gpt2")
	assert.Equal(t, int64(80<<30), training.Usable(80<<30, 0), "training has no memory cap")
	capped := estimatePreset(t, Target{MemoryUtilization: 0.5}, "gpt2")
	assert.Equal(t, int64(40<<30), capped.Usable(80<<30, 0))
}

func TestMaxBatchAndContext(t *testing.T) {
	t.Parallel()
	budget := int64(70 << 30)
	for _, tc := range []struct {
		preset string
		target Target
		gpus   int
	}{
		{"llama-3-8b", Target{Context: 8192}, 1},
		{"mixtral-8x7b", Target{Context: 4096, TensorParallel: 2}, 2},
		{"llama-3-8b", Target{Workload: Training, Context: 2048}, 4},
	} {
		e := estimatePreset(t, tc.target, tc.preset)
		gpus := tc.gpus
		l, err := e.LayoutFor(gpus)
		require.NoError(t, err)
		b := e.MaxBatch(budget, gpus)
		require.Positive(t, b, tc.preset)
		assert.LessOrEqual(t, e.components(l, b, e.in.context).Total, budget)
		assert.Greater(t, e.components(l, b+1, e.in.context).Total, budget)
		s := e.MaxContext(budget, gpus)
		require.Positive(t, s, tc.preset)
		assert.LessOrEqual(t, e.components(l, e.in.batch, s).Total, budget)
		if limit := e.Model().MaxPositionEmbeddings; s < limit {
			assert.Greater(t, e.components(l, e.in.batch, s+1).Total, budget)
		} else {
			assert.Equal(t, limit, s, "%s: the model's limit caps max_context", tc.preset)
		}
	}
	// Mistral-7B's sliding window makes its KV cache stop growing, yet its
	// context stops at max_position_embeddings, not at 16,777,216 tokens.
	mistral := estimatePreset(t, Target{}, "mistral-7b")
	assert.Equal(t, 32768, mistral.MaxContext(budget, 1))
	long := estimatePreset(t, Target{AllowLongContext: true}, "mistral-7b")
	assert.Greater(t, long.MaxContext(budget, 1), 32768, "allow_long_context lifts the cap")
	e := estimatePreset(t, Target{}, "llama-3-70b")
	assert.Zero(t, e.MaxBatch(1<<30, 1), "not even one sequence fits")
	bare, err := Estimate(Target{Name: "x", Model: model.ModelSource{Parameters: 7e9}})
	require.NoError(t, err)
	assert.Zero(t, bare.MaxBatch(80<<30, 1), "unknown when the KV cache is")
}

// Properties: more parameters, a longer context or a larger batch never
// need less memory; more GPUs never need more per GPU.
func TestMonotonic(t *testing.T) {
	t.Parallel()
	for _, w := range []Workload{Inference, Training} {
		prev := int64(0)
		for _, n := range []model.ParameterCount{1e6, 1e8, 7e9, 7_000_000_001, 70e9, 1e12, model.MaxParameters} {
			e, err := Estimate(Target{Name: "n", Model: model.ModelSource{Parameters: n}, Workload: w})
			require.NoError(t, err)
			total := e.Requirement().Total
			assert.GreaterOrEqual(t, total, prev, "%s %d parameters", w, n)
			prev = total
		}
	}
	presetNames := []string{"gpt2", "llama-2-7b", "llama-3-8b", "mistral-7b", "mixtral-8x7b", "gemma-2b", "phi-3-mini", "qwen2.5-7b"}
	for _, preset := range presetNames {
		for _, target := range []Target{
			{}, {FlashAttention: ptr(false)}, {Workload: Training}, {Workload: Training, Recompute: RecomputeFull},
			{Workload: LoRAWork}, {Workload: QLoRAWork, Recompute: RecomputeSelective, FlashAttention: ptr(false)},
		} {
			e := estimatePreset(t, target, preset)
			l := one()
			prev := int64(0)
			for _, s := range []int{1, 2, 100, 1024, 4095, 4096, 4097, 32768, 131072, MaxContext} {
				total := e.components(l, 1, s).Total
				assert.GreaterOrEqual(t, total, prev, "%s %+v context %d", preset, target, s)
				prev = total
			}
			prev = 0
			for _, b := range []int{1, 2, 3, 64, 1000, MaxBatch} {
				total := e.components(l, b, 4096).Total
				assert.GreaterOrEqual(t, total, prev, "%s %+v batch %d", preset, target, b)
				prev = total
			}
			for _, n := range []int{1, 2, 3, 4, 6} {
				c, err := e.PerGPU(n)
				if err != nil {
					continue
				}
				for _, k := range []int{2, 3, 4} {
					if more, err := e.PerGPU(n * k); err == nil {
						assert.LessOrEqual(t, more.Total, c.Total, "%s %+v: %d GPUs need more than %d", preset, target, n*k, n)
					}
				}
			}
		}
	}
}

func TestForGPUBareCount(t *testing.T) {
	t.Parallel()
	// Only the weights are known: 140 GB of bf16 weights and 1 GiB of
	// overhead per GPU on 71.69 GiB usable H100s need 2 GPUs, and pinning
	// three pipeline stages makes it 3.
	for _, tc := range []struct {
		pp, want int
	}{{0, 2}, {3, 3}} {
		e, err := Estimate(Target{Name: "70b", Model: model.ModelSource{Parameters: 70e9}, PipelineParallel: tc.pp})
		require.NoError(t, err)
		fit := e.ForGPU(gpu(t, "h100-80gb"))
		checkSmallest(t, e, fit)
		assert.Equal(t, tc.want, fit.GPUsRequired, "pipeline_parallel %d", tc.pp)
	}
}

func TestLayoutString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "tensor_parallel 2, pipeline_parallel 1", Layout{2, 1, 1, 0}.String())
	assert.Equal(t, "tensor_parallel 1, pipeline_parallel 1, data_parallel 4 with ZeRO stage 3", Layout{1, 1, 4, 3}.String())
	// Inference replicas shard nothing, so no stage is named.
	assert.Equal(t, "tensor_parallel 1, pipeline_parallel 1, data_parallel 2", Layout{1, 1, 2, 0}.String())
}
