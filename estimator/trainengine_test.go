package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

// TestEngineBytesPerParameter checks what each training engine keeps per
// trained parameter of a bare count (no activations): the model states on
// the GPU and what host memory holds.
func TestEngineBytesPerParameter(t *testing.T) {
	t.Parallel()
	const n = 1_000_000_000
	tests := []struct {
		name      string
		target    Target
		gpu, host float64 // bytes per parameter
	}{
		// torchtune: pure bf16, AdamW's states in bf16
		// (https://github.com/pytorch/torchtune/blob/main/docs/source/tutorials/memory_optimizations.rst).
		{"torchtune adamw", Target{Engine: EngineTorchtune}, 2 + 2 + 4, 0},
		{"torchtune sgd-momentum", Target{Engine: EngineTorchtune, Optimizer: SGDMomentum}, 2 + 2 + 2, 0},
		// bitsandbytes' 8-bit states whatever the engine; no master copy.
		{"torchtune adamw-8bit", Target{Engine: EngineTorchtune, Optimizer: AdamW8bit}, 2 + 2 + 2, 0},
		// Paged states live in unified memory: host, not GPU.
		{"torchtune paged-adamw-8bit", Target{Engine: EngineTorchtune, Optimizer: PagedAdamW8bit}, 2 + 2, 2},
		{"hf paged-adamw-32bit", Target{Engine: EngineHF, Optimizer: PagedAdamW32bit}, 2 + 2, 8},
		// The neutral model keeps its fp32 master copy beside paged states.
		{"neutral paged-adamw-32bit", Target{Optimizer: PagedAdamW32bit}, 2 + 2 + 4, 8},
		// hf on fp32 weights: 4 + 4 + 8, no master copy.
		{"hf fp32", Target{Engine: EngineHF, Precision: "fp32"}, 16, 0},
		// DeepSpeed: 16-bit weights and gradients, fp32 gradient copy,
		// master weights and Adam states (the "18" of
		// https://github.com/deepspeedai/DeepSpeed/blob/master/deepspeed/runtime/zero/stage_1_and_2.py,
		// estimate_zero2_model_states_mem_needs).
		{"deepspeed zero 0", Target{Engine: EngineDeepSpeed}, 2 + 2 + 4 + 12, 0},
		// ZeRO-3 on one GPU: 18 (estimate_zero3_model_states_mem_needs in
		// https://github.com/deepspeedai/DeepSpeed/blob/master/deepspeed/runtime/zero/stage3.py).
		{"deepspeed zero 3", Target{Engine: EngineDeepSpeed, ZeROStage: ptr(3)}, 18, 0},
		// ZeRO-2 on one GPU: 2 + 18 (estimate_zero2_model_states_mem_needs
		// since 0.14.3, 2·P + 18·P/N).
		{"deepspeed zero 2", Target{Engine: EngineDeepSpeed, ZeROStage: ptr(2)}, 2 + 18, 0},
		// ZeRO-2 offloading the optimizer: 2·P on the GPU (the same).
		{"deepspeed zero 2 offload", Target{Engine: EngineDeepSpeed, ZeROStage: ptr(2), Offload: OffloadOptimizer}, 2, 16 * 1.5},
		// Offloading the optimizer: the GPU keeps the weights; the host the
		// master weights, states and fp32 gradients, with DeepSpeed's 1.5.
		{"deepspeed offload optimizer", Target{Engine: EngineDeepSpeed, ZeROStage: ptr(3), Offload: OffloadOptimizer}, 2, 16 * 1.5},
		{"deepspeed offload params", Target{Engine: EngineDeepSpeed, ZeROStage: ptr(3), Offload: OffloadParams}, 0, 18 * 1.5},
		{"neutral offload optimizer", Target{Offload: OffloadOptimizer}, 2, 2 + 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.target.Name, tc.target.Model, tc.target.Workload = tc.name, model.ModelSource{Parameters: n}, Training
			e, err := Estimate(tc.target)
			require.NoError(t, err)
			c := e.Requirement().Components
			assert.InDelta(t, tc.gpu*n, float64(modelStateBytes(c)), 1, "GPU")
			assert.InDelta(t, tc.host*n, float64(c.Host), 1, "host")
		})
	}
}

// TestOptimizerInBackwardHoldsTheLargestGradient: with the step fused into
// the backward pass only one parameter's gradient exists at a time, the
// largest being the embedding (or LM head).
func TestOptimizerInBackwardHoldsTheLargestGradient(t *testing.T) {
	t.Parallel()
	e := estimatePreset(t, Target{Workload: Training, Engine: EngineTorchtune, OptimizerInBackward: true}, "llama-3.1-8b")
	assert.Equal(t, int64(128256*4096*2), e.Requirement().Gradients)
}

// TestGradientsTakeThePlaceOfActivations: under an engine whose gradients
// are allocated as the backward pass frees activations, the peak holds the
// larger of the two ends of the backward pass, never both in full.
func TestGradientsTakeThePlaceOfActivations(t *testing.T) {
	t.Parallel()
	base := Target{Workload: Training, Batch: 2, Context: 4096, Recompute: RecomputeFull}
	neutral := estimatePreset(t, base, "llama-3.1-8b").Requirement()
	base.Engine = EngineTorchtune
	tt := estimatePreset(t, base, "llama-3.1-8b")
	got := tt.Requirement()
	parts := tt.trainingActivationParts(one(), 2, 4096)
	grads := float64(tt.model.Parameters) * 2
	// Llama-3.1-8B's 16 GB of gradients outweigh its activations: the peak
	// is at the end of the backward pass, with one layer's activations.
	require.Greater(t, grads, parts.stored+parts.logits)
	assert.InDelta(t, grads, float64(got.Gradients), 1)
	assert.InDelta(t, parts.layer, float64(got.Activations), 1)
	assert.Less(t, got.Gradients+got.Activations, neutral.Gradients+neutral.Activations)
}

// TestEngineDefaults: what each engine sets unless the target says.
func TestEngineDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target    Target
		recompute Recompute
		adapter   string
		states    string
	}{
		{Target{Workload: LoRAWork}, RecomputeNone, "fp32", "fp32"},
		{Target{Workload: LoRAWork, Engine: EngineTorchtune}, RecomputeFull, "bf16", "bf16"},
		{Target{Workload: LoRAWork, Engine: EngineHF}, RecomputeNone, "fp32", "fp32"},
		{Target{Workload: QLoRAWork, Engine: EngineHF}, RecomputeFull, "fp32", "fp32"},
		{Target{Workload: QLoRAWork, Engine: EngineHF, Optimizer: AdamW8bit}, RecomputeFull, "fp32", "int8"},
		{Target{Workload: LoRAWork, Engine: EngineDeepSpeed}, RecomputeNone, "fp32", "fp32"},
		{Target{Workload: LoRAWork, Engine: EngineTorchtune, Recompute: RecomputeSelective, LoRA: &LoRA{DType: "fp32"}}, RecomputeSelective, "fp32", "fp32"},
	}
	for _, tc := range tests {
		e := estimatePreset(t, tc.target, "llama-2-7b")
		assert.Equal(t, tc.recompute, e.in.recompute, "%+v", tc.target)
		assert.Equal(t, tc.adapter, e.in.adapter.Name, "%+v", tc.target)
		assert.Equal(t, tc.states, e.in.optStates.Name, "%+v", tc.target)
	}
}

// TestTorchtuneChunksTheLoss: torchtune from 0.3 holds 2.5 bytes a logit,
// before 0.3 twelve.
func TestTorchtuneChunksTheLoss(t *testing.T) {
	t.Parallel()
	logits := func(profile string) float64 {
		e := estimatePreset(t, Target{Workload: LoRAWork, Engine: EngineTorchtune, EngineProfile: profile, Batch: 2, Context: 2048}, "llama-3.1-8b")
		return e.trainingActivationParts(one(), 2, 2048).logits
	}
	assert.InDelta(t, 2.5*2*2048*128256, logits(""), 1)
	assert.InDelta(t, 12.0*2*2048*128256, logits("torchtune-0.2"), 1)
}

// TestEngineValidation: an engine that does not run the workload, a profile
// of another engine, and parameters offloaded without ZeRO-3 are errors
// that name what is valid.
func TestEngineValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target Target
		want   string
	}{
		{Target{Workload: Training, Engine: EngineVLLM},
			`engine: vllm does not run the training workload; valid for training: neutral, torchtune, hf, deepspeed`},
		{Target{Engine: EngineTorchtune},
			`engine: torchtune does not run the inference workload; valid for inference: neutral, vllm, sglang`},
		{Target{Workload: LoRAWork, Engine: EngineHF, EngineProfile: "torchtune-0.2"},
			`engine_profile: "torchtune-0.2" is not a profile of engine hf; valid: hf`},
		{Target{Engine: EngineVLLM, EngineProfile: "torchtune-0.2"},
			`engine_profile: "torchtune-0.2" is not a profile of engine vllm; valid: vllm-v0-0.6, vllm-v0-0.7, vllm-v1, vllm-v1-0.18`},
		{Target{EngineProfile: "vllm-v1"}, `engine_profile: engine neutral has no profiles for the inference workload`},
		{Target{Workload: Training, Offload: OffloadParams},
			`offload: params needs zero_stage 3 (ZeRO-3 or FSDP full sharding gathers the offloaded parameters layer by layer), got zero_stage unset`},
		{Target{Offload: OffloadOptimizer}, `offload: applies to training workloads, not inference`},
		{Target{OptimizerInBackward: true}, `optimizer_in_backward: applies to training workloads, not inference`},
		{Target{Workload: Training, Engine: EngineDeepSpeed, Method: RuleOfThumb},
			`engine: deepspeed has its own accounting; the rule-of-thumb method follows the seed article's rules only (use engine neutral or method detailed)`},
		{Target{BlockSize: 16}, `block_size: applies to the serving engines vllm and sglang, not neutral`},
		{Target{Workload: Training, Engine: "megatron"},
			`engine: unknown "megatron"; valid: neutral, vllm, sglang, torchtune, hf, deepspeed`},
	}
	for _, tc := range tests {
		tc.target.Name, tc.target.Model = "t", model.ModelSource{Preset: "llama-2-7b"}
		_, err := Estimate(tc.target)
		require.Error(t, err, "%+v", tc.target)
		assert.Equal(t, `target "t": `+tc.want, err.Error())
	}
}

// TestTorchtuneQuantisesAdaptedLinearsOnly: torchtune's QLoRA turns only
// the linears that carry an adapter into NF4; Llama-2-7B's other linears
// stay bf16 (k_proj, o_proj and the MLP when q_proj and v_proj are adapted).
// PEFT quantises them all.
func TestTorchtuneQuantisesAdaptedLinearsOnly(t *testing.T) {
	t.Parallel()
	qv := &LoRA{Modules: []string{"q_proj", "v_proj"}}
	tt := estimatePreset(t, Target{Workload: QLoRAWork, Engine: EngineTorchtune, LoRA: qv}, "llama-2-7b")
	hf := estimatePreset(t, Target{Workload: QLoRAWork, Engine: EngineHF, LoRA: qv}, "llama-2-7b")
	m := tt.model
	// 32 layers of 4·4096² + 3·4096·11008; q_proj and v_proj are 2·4096².
	linear := 32.0 * (4*4096*4096 + 3*4096*11008)
	adapted := 32.0 * 2 * 4096 * 4096
	nf4 := model.NF4DoubleQuantBits / 8
	assert.InDelta(t, adapted*nf4+2*(float64(m.Parameters)-adapted), tt.frozenWeights(one()), 1)
	// PEFT's prepare_model_for_kbit_training casts what bitsandbytes leaves
	// unquantised to fp32.
	assert.InDelta(t, linear*nf4+4*(float64(m.Parameters)-linear), hf.frozenWeights(one()), 1)
}
