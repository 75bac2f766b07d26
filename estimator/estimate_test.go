package estimator

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

// presetModel resolves a preset of the embedded catalog.
func presetModel(t testing.TB, name string) model.Model {
	t.Helper()
	m, err := model.LookupPreset(name)
	require.NoError(t, err, name)
	return m
}

// estimateModel estimates target on a model built by the test (published
// config values of models the catalog does not carry).
func estimateModel(t testing.TB, target Target, m model.Model) *Estimation {
	t.Helper()
	if target.Name == "" {
		target.Name = m.Name
	}
	require.Empty(t, target.validate())
	e, errs := newEstimation(target, m)
	require.Empty(t, errs)
	return e
}

// estimatePreset estimates target on a catalog preset.
func estimatePreset(t testing.TB, target Target, preset string) *Estimation {
	t.Helper()
	target.Model = model.ModelSource{Preset: preset}
	if target.Name == "" {
		target.Name = preset
	}
	e, err := Estimate(target)
	require.NoError(t, err)
	return e
}

func ptr[T any](v T) *T { return &v }

func one() Layout { return Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: 1} }

func TestEstimateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target Target
		msg    string
	}{
		{Target{Name: "x", Model: model.ModelSource{Preset: "llama-3-8b"}, Batch: -1},
			`target "x": batch: must be at least 1, got -1`},
		{Target{Name: "x", Model: model.ModelSource{Preset: "llama-3-8b"}, TensorParallel: 3},
			`target "x": tensor_parallel: 3 does not divide the model's 32 attention heads (and 8 KV heads); valid degrees: 1, 2, 4, 8, 16, 32`},
		{Target{Name: "x", Model: model.ModelSource{Parameters: 7e9}, Workload: LoRAWork},
			`target "x": model: lora needs the model's architecture to size the adapters (give a preset, architecture or hf_config, not a bare parameter count)`},
		{Target{Name: "x", Model: model.ModelSource{Preset: "gpt2"}, Workload: LoRAWork, LoRA: &LoRA{Modules: []string{"q_proj"}}},
			`target "x": lora.modules: the model has no linear module "q_proj"; valid: attn.c_proj, c_attn, c_fc, mlp.c_proj`},
		{Target{Name: "x", Model: model.ModelSource{Preset: "gpt2"}, Recompute: RecomputeFull},
			`target "x": recompute: applies to training workloads, not inference`},
		{Target{Name: "x", Model: model.ModelSource{Preset: "gpt2"}, Workload: Training, Precision: "int8"},
			`target "x": precision: "int8" is not a format for trained weights; valid: fp32, bf16, fp16`},
		{Target{Name: "x", Model: model.ModelSource{Preset: "gpt2"}, Workload: QLoRAWork, Method: RuleOfThumb},
			`target "x": method: rule-of-thumb has rules for workloads inference and training only, not qlora`},
		{Target{Name: "", Model: model.ModelSource{Preset: "gpt2"}}, `target "": name: must not be empty`},
		{Target{Name: "a\x00b", Model: model.ModelSource{Preset: "gpt2"}}, `target "a\x00b": name: "a\x00b" holds a control character or invalid UTF-8`},
		{Target{Name: "x", Model: model.ModelSource{Preset: "gpt2"}, PipelineParallel: 13},
			`target "x": pipeline_parallel: 13 stages for 12 layers; at most 12`},
	}
	for _, tc := range tests {
		_, err := Estimate(tc.target)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrInvalidTarget)
		assert.EqualError(t, err, tc.msg)
	}
	_, err := Estimate(Target{Name: "x", Model: model.ModelSource{Preset: "nope"}})
	assert.ErrorContains(t, err, `target "x": model: unknown model preset "nope"`)
	assert.ErrorIs(t, err, ErrInvalidTarget)
	assert.ErrorIs(t, err, model.ErrInvalidModel, "the model's error stays reachable")
}

func TestRequirementComponentsAddUp(t *testing.T) {
	t.Parallel()
	for _, w := range workloads {
		target := Target{Workload: w}
		e := estimatePreset(t, target, "llama-3-8b")
		r := e.Requirement()
		c := r.Components
		assert.Equal(t, c.Weights+c.KVCache+c.Activations+c.Gradients+c.Optimizer+c.Overhead, c.Total, w)
		assert.Equal(t, 1, r.GPUs)
		assert.Empty(t, c.Unknown)
	}
	// A bare parameter count says what it cannot know.
	e, err := Estimate(Target{Name: "x", Model: model.ModelSource{Parameters: 7e9}})
	require.NoError(t, err)
	assert.Equal(t, []string{"kv_cache", "activations"}, e.Requirement().Unknown)
	assert.Contains(t, e.Warnings(), "kv_cache and activations are unknown: a bare parameter count has no architecture (give a preset, architecture or hf_config)")
	_, ok := e.KVCacheBytesPerToken()
	assert.False(t, ok)
}

// checkComponents fails when a need is negative or does not add up.
func checkComponents(t testing.TB, c Components) {
	t.Helper()
	for _, v := range []int64{c.Weights, c.KVCache, c.Activations, c.Gradients, c.Optimizer, c.Overhead} {
		if v < 0 || v > MaxSize+1 {
			t.Fatalf("component out of range: %+v", c)
		}
	}
	if c.Total != c.Weights+c.KVCache+c.Activations+c.Gradients+c.Optimizer+c.Overhead {
		t.Fatalf("total does not add up: %+v", c)
	}
}

func FuzzEstimate(f *testing.F) {
	presetNames := []string{"llama-3-8b", "llama-2-7b", "mixtral-8x7b", "gpt2", "gemma-2b", "mistral-7b", "llama-3.1-405b", "grok-1"}
	precisions := []string{"", "fp32", "bf16", "fp8", "int4", "nf4-dq", "q4_k_m"}
	f.Add(uint8(0), uint8(0), uint8(0), 4096, 1, 1, 1, 1, uint8(0), true, uint8(0), false, int64(70e9))
	f.Add(uint8(2), uint8(1), uint8(2), 32768, 8, 2, 2, 4, uint8(3), false, uint8(1), true, int64(1))
	f.Add(uint8(6), uint8(2), uint8(5), MaxContext, MaxBatch, 8, 1, 64, uint8(2), false, uint8(2), false, int64(model.MaxParameters))
	f.Add(uint8(3), uint8(3), uint8(5), 1, 1, 1, 12, 1, uint8(0), true, uint8(0), false, int64(0))
	f.Fuzz(func(t *testing.T, presetIdx, workloadIdx, precisionIdx uint8, context, batch, tp, pp, dp int,
		zero uint8, flash bool, recomputeIdx uint8, sp bool, params int64) {
		target := Target{
			Name:     "fuzz",
			Workload: workloads[int(workloadIdx)%len(workloads)],
			Context:  context, Batch: batch, TensorParallel: tp, PipelineParallel: pp, DataParallel: dp,
			FlashAttention: &flash,
		}
		if params != 0 {
			target.Model.Parameters = model.ParameterCount(params)
		} else {
			target.Model.Preset = presetNames[int(presetIdx)%len(presetNames)]
		}
		target.Precision = precisions[int(precisionIdx)%len(precisions)]
		if target.Workload.trains() {
			target.ZeROStage = ptr(int(zero % 4))
			target.Recompute = recomputes[int(recomputeIdx)%len(recomputes)]
			target.SequenceParallel = sp
		}
		e, err := Estimate(target)
		if err != nil {
			return // rejected input is fine; a panic is not
		}
		checkComponents(t, e.Requirement().Components)
		for _, g := range GPUs() {
			fit := e.ForGPU(g)
			checkComponents(t, fit.PerGPU)
			if fit.GPUsRequired < 0 || (fit.GPUsRequired == 0) == (fit.UnfitReason == "") {
				t.Fatalf("fit %+v", fit)
			}
			if fit.GPUsRequired > 0 && fit.PerGPU.Total > fit.Usable {
				t.Fatalf("placed on %d GPUs but %d > %d", fit.GPUsRequired, fit.PerGPU.Total, fit.Usable)
			}
		}
		for _, n := range []int{1, 2, 3, 8, 1000} {
			if c, err := e.PerGPU(n); err == nil {
				checkComponents(t, c)
			}
		}
		if b := e.MaxBatch(80<<30, 1); b < 0 || b > MaxBatch {
			t.Fatalf("max batch %d", b)
		}
		if s := e.MaxContext(80<<30, 1); s < 0 || s > MaxContext {
			t.Fatalf("max context %d", s)
		}
		if u := e.Usable(80<<30, 1<<30); u < 0 || float64(u) > math.Ceil(79*(1<<30)) {
			t.Fatalf("usable %d", u)
		}
	})
}

func BenchmarkEstimate(b *testing.B) {
	target := Target{Name: "llama-3-70b-fp8", Model: model.ModelSource{Preset: "llama-3.1-70b"}, Precision: "fp8",
		KVCacheDType: "fp8", Context: 32768, Batch: 8, TensorParallel: 2}
	for b.Loop() {
		e, err := Estimate(target)
		if err != nil {
			b.Fatal(err)
		}
		_ = e.Requirement()
	}
}

func BenchmarkRequiredGPUs(b *testing.B) {
	g, err := LookupGPU("h100-80gb")
	require.NoError(b, err)
	cases := []Target{
		{Name: "405b-inference", Model: model.ModelSource{Preset: "llama-3.1-405b"}, Context: 131072, Batch: 4},
		{Name: "70b-training", Model: model.ModelSource{Preset: "llama-3-70b"}, Workload: Training, TensorParallel: 8,
			SequenceParallel: true, Recompute: RecomputeSelective},
	}
	for _, target := range cases {
		e, err := Estimate(target)
		require.NoError(b, err)
		b.Run(target.Name, func(b *testing.B) {
			for b.Loop() {
				if fit := e.ForGPU(g); fit.GPUsRequired == 0 {
					b.Fatal(fit.UnfitReason)
				}
			}
		})
	}
}

// Parts lists every component once, in the order of the metric's component
// label, with the unknown ones marked rather than counted as 0.
func TestComponentsParts(t *testing.T) {
	t.Parallel()
	c := Components{Weights: 1, Gradients: 2, Optimizer: 3, Overhead: 4, Total: 10, Unknown: []string{"kv_cache", "activations"}}
	assert.Equal(t, []Part{
		{Name: "weights", Bytes: 1, Known: true}, {Name: "kv_cache"}, {Name: "activations"},
		{Name: "gradients", Bytes: 2, Known: true}, {Name: "optimizer", Bytes: 3, Known: true},
		{Name: "overhead", Bytes: 4, Known: true}, {Name: "total", Bytes: 10, Known: true},
	}, c.Parts())
}
