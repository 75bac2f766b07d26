package estimator

import (
	"fmt"

	"github.com/vramfit/vramfit/estimator/model"
)

// trainingEngine is what a training framework does with memory by default,
// for a range of its versions: trainingProfiles is the one table of their
// constants, each with its source.
type trainingEngine struct {
	name   string
	engine Engine
	// masterWeights: the optimizer keeps an fp32 copy of trained weights
	// narrower than 32 bits (mixed precision).
	masterWeights bool
	// statesAsParams: the optimizer's states take the trained parameters'
	// dtype (torch.optim), not fp32.
	statesAsParams bool
	// fp32Gradients: an fp32 copy of the gradients sits beside the 16-bit
	// ones, partitioned with the optimizer states.
	fp32Gradients bool
	// adapterDType is the LoRA adapters' format unless lora.dtype says.
	adapterDType string
	// logitBytes is the bytes held per logit (one token × one vocabulary
	// entry) when the loss's backward pass starts.
	logitBytes float64
	// quantisesAdaptedOnly: qlora quantises only the linear layers that
	// carry an adapter; the others stay in 16 bits.
	quantisesAdaptedOnly bool
	// qloraRestBytes is the bytes a parameter qlora leaves unquantised
	// (embeddings, LM head, norms) takes.
	qloraRestBytes float64
	// normBytes is what a layer's two norms keep per element of the hidden
	// state beyond the 2-byte inputs Korthikanti et al. count.
	normBytes float64
	// recompute is the activation checkpointing of the framework's recipes.
	recompute Recompute
	// recomputeQLoRA, when set, replaces recompute for qlora.
	recomputeQLoRA Recompute
	// hostBuffer multiplies what is offloaded to host memory (pinned
	// staging buffers).
	hostBuffer float64
	// gathered is how many units (layers) of sharded weights ZeRO-3/FSDP
	// holds whole at once: the one computing, and the one prefetched.
	gathered float64
	// transientGrads16: with ZeRO-3 the 16-bit gradients are reduced into
	// the fp32 partition bucket by bucket and not kept.
	transientGrads16 bool
	// gradientsFreeActivations: the gradients are allocated during the
	// backward pass as the activations it consumes are freed, and freed
	// after the step (zero_grad(set_to_none=True)), so the peak holds all
	// activations with the first gradient, or all gradients with the last
	// layer's activations, not both in full.
	gradientsFreeActivations bool
}

// lossChunks is torchtune's CEWithChunkedOutputLoss and
// LinearCrossEntropyLoss default num_output_chunks
// (torchtune/modules/loss/ce_chunked_output_loss.py L35).
const lossChunks = 8

// trainingProfiles holds the engines' constants, the newest profile of
// each engine first. The engine-neutral model is the textbook one of
// docs/estimator.md. The files named are those of github.com/pytorch/torchtune
// at commit bd2a0fc7, github.com/huggingface/peft at 5d602fdb and
// github.com/deepspeedai/DeepSpeed at edaa7221 (0.19.6).
var trainingProfiles = []trainingEngine{
	// Mixed precision as the ZeRO paper counts it: 16-bit weights and
	// gradients, fp32 master weights and Adam states (16 bytes a
	// parameter), fp32 logits, no recomputation unless asked.
	{name: "neutral", engine: EngineNeutral,
		masterWeights: true, adapterDType: "fp32", logitBytes: 4, recompute: RecomputeNone, hostBuffer: 1, gathered: 1, qloraRestBytes: 2},
	// torchtune trains in pure bf16: "we don't support mixed-precision
	// training" (docs/source/tutorials/memory_optimizations.rst L56-58); the
	// model, adapters included, is built under the training dtype
	// (recipes/lora_finetune_single_device.py L410), so torch.optim's states
	// are bf16 too. Its recipes checkpoint every layer
	// (enable_activation_checkpointing: True in every shipped config) and,
	// from 0.3, chunk the loss (CEWithChunkedOutputLoss, then
	// LinearCrossEntropyLoss): the bf16 logits are kept, and one fp32 chunk
	// of 8 at a time (the forward's upcast, then the backward's gradient),
	// 2 + 4/8 bytes a logit. Its distributed recipes shard with FSDP, which
	// prefetches the next layer (BACKWARD_PRE). QLoRA replaces the weight of
	// each LoRALinear by NF4 (torchtune/modules/peft/lora.py, quantize_base:
	// to_nf4, blocks of 64 with 8-bit scalers per 256, nf4-dq's layout); a
	// linear without an adapter stays bf16 (qlora_finetune.rst: "k_proj and
	// output_proj ... don't have LoRA applied to them, so their base model
	// parameters are not quantized").
	// Versions: torchtune 0.3 and later.
	{name: "torchtune", engine: EngineTorchtune,
		statesAsParams: true, adapterDType: "bf16", logitBytes: 2 + 4.0/lossChunks, recompute: RecomputeFull, hostBuffer: 1,
		gathered: 2, gradientsFreeActivations: true, quantisesAdaptedOnly: true, qloraRestBytes: 2},
	// Before 0.3 the output projection returned fp32 logits
	// (TransformerDecoder: self.output(h).float()) to
	// torch.nn.CrossEntropyLoss, whose log_softmax keeps an fp32 output and
	// whose backward starts from an fp32 gradient: 4 + 4 + 4 bytes a logit.
	// Versions: torchtune 0.1 and 0.2.
	{name: "torchtune-0.2", engine: EngineTorchtune,
		statesAsParams: true, adapterDType: "bf16", logitBytes: 4 + 4 + 4, recompute: RecomputeFull, hostBuffer: 1,
		gathered: 2, gradientsFreeActivations: true, quantisesAdaptedOnly: true, qloraRestBytes: 2},
	// PEFT casts bf16/fp16 adapters to fp32 (autocast_adapter_dtype=True,
	// src/peft/tuners/tuners_utils.py cast_adapter_dtype); torch.optim
	// keeps states in the parameters' dtype; Transformers' causal-LM loss
	// keeps the bf16 logits in the model's output, upcasts them to fp32 for
	// log_softmax, which keeps an fp32 output, and the backward pass starts
	// with its fp32 gradient: 2 + 4 + 4 bytes a logit. Gradient
	// checkpointing is off by default, but prepare_model_for_kbit_training
	// turns it on for 4-bit models (src/peft/utils/other.py,
	// use_gradient_checkpointing=True), and casts every parameter it does
	// not quantise (embeddings, LM head, norms) to fp32 ("cast all non INT8
	// parameters to fp32", same function). Sharded, it runs FSDP through
	// accelerate (prefetching the next layer). Transformers' RMSNorm
	// (LlamaRMSNorm and its copies) upcasts its input to fp32 and keeps it,
	// and the bf16 normalised output, for the backward pass: 4 + 2 bytes an
	// element where a LayerNorm keeps its 2-byte input, 4 more for each of
	// a layer's two norms. (torchtune's RMSNorm is written alike, but its
	// recipes compile it, which fuses the norm and keeps its input alone.)
	// Versions: PEFT 0.10-0.20, Transformers 4.3x-4.5x, bitsandbytes 0.43-0.49.
	{name: "hf", engine: EngineHF,
		statesAsParams: true, adapterDType: "fp32", logitBytes: 2 + 4 + 4, normBytes: 2 * 4,
		recompute: RecomputeNone, recomputeQLoRA: RecomputeFull, hostBuffer: 1, gathered: 2, gradientsFreeActivations: true,
		qloraRestBytes: 4},
	// DeepSpeed's bf16/fp16 ZeRO optimizer: 16-bit weights and gradients,
	// an fp32 copy of the gradients, fp32 master weights and Adam states,
	// "18 = 2_grads_16bit + 4_grads_32bit + 4_params_32bit +
	// 8_optimizer_states_32bit" (deepspeed/runtime/zero/stage_1_and_2.py,
	// estimate_zero2_model_states_mem_needs, from 0.14.3). It runs
	// Transformers models (Trainer, accelerate), whose loss is the hf
	// engine's, and so are its norms. ZeRO-2 keeps the 16-bit gradients'
	// partition (2·P + 18·P/N); ZeRO-3 reduces them into the fp32
	// partition bucket by bucket and holds 4·largest_layer + 18·P/N, the
	// 18 being 2 for the 16-bit weights and 16 for the rest (stage3.py,
	// estimate_zero3_model_states_mem_needs). Host memory for offloaded
	// states gets its estimator's additional_buffer_factor of 1.5.
	// Versions: DeepSpeed 0.14.3 and later.
	{name: "deepspeed", engine: EngineDeepSpeed,
		masterWeights: true, fp32Gradients: true, transientGrads16: true, adapterDType: "fp32", logitBytes: 2 + 4 + 4, normBytes: 2 * 4,
		recompute: RecomputeNone, hostBuffer: 1.5, gathered: 1, qloraRestBytes: 2},
}

// trainingProfile returns the named profile of a training engine, or its
// newest when name is empty; ok is false when the engine has no such one.
func trainingProfile(g Engine, name string) (trainingEngine, bool) {
	for _, p := range trainingProfiles {
		if p.engine == g && (name == "" || p.name == name) {
			return p, true
		}
	}
	return trainingEngine{}, false
}

// trainingProfileNames lists the profiles of a training engine.
func trainingProfileNames(g Engine) []string {
	var out []string
	for _, p := range trainingProfiles {
		if p.engine == g {
			out = append(out, p.name)
		}
	}
	return out
}

// trainer returns the training profile of a validated target.
func trainer(g Engine, name string) trainingEngine {
	te, ok := trainingProfile(g, name)
	if !ok {
		panic(fmt.Sprintf("estimator: engine %q profile %q passed validation but has no training constants", g, name))
	}
	return te
}

// defaultRecompute is the engine's activation checkpointing for workload w.
func (te trainingEngine) defaultRecompute(w Workload) Recompute {
	if w == QLoRAWork && te.recomputeQLoRA != "" {
		return te.recomputeQLoRA
	}
	return te.recompute
}

// paged reports whether the optimizer keeps its states in CUDA unified
// memory (bitsandbytes' paged optimizers): the driver moves pages to host
// memory when the GPU runs out and back when a step reads them.
func (o Optimizer) paged() bool { return o == PagedAdamW8bit || o == PagedAdamW32bit }

// stateDType is the format bitsandbytes' optimizers keep their states in
// whatever the parameters' dtype, or "" for torch.optim's (the engine's
// rule). Their 8-bit states are blockwise-quantised: one fp32 absmax per
// 2048 values (Dettmers et al., 2022, "8-bit Optimizers via Block-wise
// Quantization" §2), 0.2% more, which int8 leaves out.
func (o Optimizer) stateDType() string {
	switch o {
	case AdamW8bit, PagedAdamW8bit:
		return "int8"
	case PagedAdamW32bit:
		return "fp32"
	case AdamW, SGDMomentum, SGD:
		return ""
	}
	panic(fmt.Sprintf("estimator: optimizer %q passed validation but has no state format", o))
}

// Offload is what training keeps in host memory instead of on the GPU.
type Offload string

// The offload settings.
const (
	OffloadNone Offload = "none"
	// OffloadOptimizer moves the optimizer states, the master weights and
	// the gradients' partition to host memory, where the optimizer steps
	// (DeepSpeed's offload_optimizer, torchao's CPUOffloadOptimizer).
	OffloadOptimizer Offload = "optimizer"
	// OffloadParams also keeps the parameters there, gathering one layer at
	// a time (DeepSpeed's offload_param, FSDP's CPUOffload): ZeRO-3 only.
	OffloadParams Offload = "params"
)

var offloads = []Offload{OffloadNone, OffloadOptimizer, OffloadParams}

// trainedStates is the weights, gradients and optimizer states of n trained
// parameters of format d on one GPU of layout l, the largest of them a
// tensor of `largest` elements, as the target's engine and optimizer keep
// them, with what lives in host memory instead.
func (e *Estimation) trainedStates(l Layout, n, largest float64, d DType) states {
	in := e.in
	te := in.trainer
	st := states{
		weights:   d.bytesFor(n) / zeroShard(l, 3),
		gradients: in.grads.bytesFor(n) / zeroShard(l, 2),
	}
	if in.optimizerInBackward {
		// Each parameter's step runs as soon as its gradient is ready and
		// frees it: the largest gradient is the most held at once.
		st.gradients = in.grads.bytesFor(largest)
	}
	// The gradients the optimizer reads: an fp32 copy of its partition, or
	// the gradients themselves.
	stepGrads := st.gradients
	if te.fp32Gradients && d.Bits < 32 {
		if te.transientGrads16 && l.ZeROStage == 3 {
			st.gradients = 0
		}
		stepGrads = 4 * n / zeroShard(l, 1)
		st.gradients += stepGrads
	}
	states := n * float64(in.optimizer.states()) * in.optStates.Bits / 8 / zeroShard(l, 1)
	var master float64
	if te.masterWeights && d.Bits < 32 {
		master = 4 * n / zeroShard(l, 1)
	}
	if in.optimizer.paged() {
		// Unified memory outside PyTorch's allocator: it takes what the GPU
		// has free and pages out the rest, so it counts against host memory.
		st.host += states
		states = 0
	}
	st.optimizer = states + master
	// Offloading moves what the optimizer reads and writes to the host; the
	// 16-bit gradients are copied into its buffers bucket by bucket and do
	// not stay on the GPU.
	var offloaded float64
	switch in.offload {
	case OffloadParams:
		offloaded, st.weights = st.weights, 0
		fallthrough
	case OffloadOptimizer:
		offloaded += st.optimizer + stepGrads
		st.optimizer, st.gradients = 0, 0
	case OffloadNone:
	default:
		panic(fmt.Sprintf("estimator: offload %q passed validation but is not modelled", in.offload))
	}
	st.host += offloaded * te.hostBuffer
	return st
}

// backwardPeak is the gradients and activations held together at full
// training's peak: for an engine whose gradients take the place of the
// activations the backward pass frees, the larger of the backward pass's
// start (every activation and the LM head's gradient) and its end (every
// gradient and one layer's activations); otherwise both in full.
func (e *Estimation) backwardPeak(l Layout, grads float64, a activationParts) (gradients, activations float64) {
	all := a.stored + a.logits
	if !e.in.trainer.gradientsFreeActivations || e.in.optimizerInBackward || e.in.offload != OffloadNone {
		return grads, all
	}
	first := min(grads, e.in.grads.bytesFor(largestTensor(e.model, l.TensorParallel)))
	if first+all >= grads+a.layer {
		return first, all
	}
	return grads, a.layer
}

// largestTensor is the elements of the model's largest weight tensor on one
// GPU: the embedding (or LM head) or the widest linear.
func largestTensor(m model.Model, tp int) float64 {
	if !m.KnownArchitecture {
		return 0
	}
	largest := float64(m.VocabSize) * float64(m.HiddenSize)
	for _, layer := range m.Decoder {
		for _, lin := range layer.Linears {
			largest = max(largest, float64(lin.In)*float64(lin.Out))
		}
	}
	return largest / float64(tp)
}
