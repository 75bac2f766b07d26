package estimator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vramfit/vramfit/estimator/model"
)

// Defaults that change the answer; every estimate prints them.
const (
	// DefaultOverhead is the per-GPU memory outside the model: the CUDA
	// context, cuBLAS/cuDNN workspaces and the allocator's reserve. Published
	// figures range from 0.3 to 2 GiB: Hugging Face measured 1343 MB for the
	// CUDA kernels alone ("Model training anatomy"), vram.asmirnov.xyz uses
	// 1000 MiB, gpu_poor 650 MB. 1 GiB sits in the middle.
	DefaultOverhead = 1 << 30
	// DefaultInferenceUtilization is vLLM's gpu_memory_utilization default
	// (EngineArgs, 0.90 for most of its history).
	DefaultInferenceUtilization = 0.90
	// DefaultTrainingUtilization: training frameworks have no memory cap;
	// PyTorch's allocator may use all of it.
	DefaultTrainingUtilization = 1.0
	// DefaultContext is the context of a target that does not set one (or
	// the model's max_position_embeddings when that is smaller).
	DefaultContext = 4096
	// DefaultMaxBatchedTokens is vLLM's max_num_batched_tokens for its
	// OpenAI server on GPUs of 70 GiB and more (EngineArgs.get_batch_defaults;
	// 2048 on smaller GPUs): the tokens of one forward pass, which vLLM's
	// profile run reserves activation memory for.
	DefaultMaxBatchedTokens = 8192
	// DefaultLoRARank is PEFT's LoraConfig default r.
	DefaultLoRARank = 8
	// maxTensorParallel is the largest degree placement picks by itself: one
	// NVLink domain (an 8-GPU HGX/DGX board). A target may pin more.
	maxTensorParallel = 8
)

// inputs are a target's settings with every default applied and every
// format looked up.
type inputs struct {
	workload Workload
	method   Method

	weights   DType
	kv        DType
	grads     DType
	optimizer Optimizer
	optStates DType
	adapter   DType
	// actBytes is the bytes per activation element (the compute dtype).
	actBytes float64
	// checkpointBytes, when positive, are the weights' bytes as stored in
	// the safetensors files beside a config.json.
	checkpointBytes float64
	// expertsOnly: the weights' format applies to the routed experts only
	// (mxfp4); every other tensor is 16 bits.
	expertsOnly bool

	context, batch, maxBatched int
	tp, pp, dp, zero           int
	// pinned* mark the layout fields the target sets: placement keeps
	// them and may choose the others.
	pinnedTP, pinnedPP, pinnedDP, pinnedZeRO bool
	sequenceParallel, flash                  bool
	recompute                                Recompute
	util                                     float64
	overhead                                 float64

	// adapters are the LoRA adapters of lora and qlora.
	adapters adapters

	// engine is the target's engine; trainer its training constants (the
	// neutral ones for inference).
	engine              Engine
	trainer             trainingEngine
	optimizerInBackward bool
	offload             Offload

	warnings []string
}

// resolveInputs applies the defaults and checks the target against its model.
func resolveInputs(t Target, m model.Model) (inputs, []fieldError) {
	in := inputs{
		workload:   t.workload(),
		method:     Method(orDefault(string(t.Method), string(Detailed))),
		optimizer:  Optimizer(orDefault(string(t.Optimizer), string(AdamW))),
		context:    orDefaultInt(t.Context, defaultContext(m)),
		batch:      orDefaultInt(t.Batch, 1),
		maxBatched: orDefaultInt(t.MaxBatchedTokens, DefaultMaxBatchedTokens),
		tp:         orDefaultInt(t.TensorParallel, 1),
		pp:         orDefaultInt(t.PipelineParallel, 1),
		dp:         orDefaultInt(t.DataParallel, 1),
		pinnedTP:   t.TensorParallel != 0,
		pinnedPP:   t.PipelineParallel != 0,
		pinnedDP:   t.DataParallel != 0,
		pinnedZeRO: t.ZeROStage != nil,
		flash:      t.FlashAttention == nil || *t.FlashAttention,
		overhead:   DefaultOverhead,

		sequenceParallel: t.SequenceParallel,

		engine:              Engine(orDefault(string(t.Engine), string(EngineNeutral))),
		optimizerInBackward: t.OptimizerInBackward,
		offload:             Offload(orDefault(string(t.Offload), string(OffloadNone))),
	}
	switch {
	case t.ZeROStage != nil:
		in.zero = *t.ZeROStage
	case in.workload.trains() && in.dp > 1:
		in.zero = 3 // what placement chooses, so that the own layout is the one placed
	}
	in.trainer = trainer(EngineNeutral, "")
	if in.workload.trains() {
		in.trainer = trainer(in.engine, t.EngineProfile)
	}
	in.recompute = Recompute(orDefault(string(t.Recompute), string(in.trainer.defaultRecompute(in.workload))))
	if t.Overhead != nil {
		in.overhead = float64(*t.Overhead)
	}
	in.util = memoryCap(t, in.method, in.workload)

	var errs []fieldError
	in.weights, in.checkpointBytes = weightsFormat(t, m, in.workload)
	in.expertsOnly = m.Quantization != nil && m.Quantization.ExpertsOnly && in.weights.Name == m.Quantization.Name
	in.actBytes = 2
	if in.weights.Name == "fp32" {
		in.actBytes = 4
	}
	in.kv = mustDType(orDefault(t.KVCacheDType, kvDefault(in.weights)))
	trained := in.weights
	if in.workload.adapts() {
		in.adapter = mustDType(orDefault(loraDType(t.LoRA), in.trainer.adapterDType))
		trained = in.adapter
		in.grads = mustDType(orDefault(t.GradientDType, in.adapter.Name))
		a, err := adapterParameters(t.LoRA, m)
		if err != nil {
			errs = append(errs, *err)
		}
		in.adapters = a
	} else if in.workload == Training {
		// Inference has no gradients (and its weights' format may be a
		// checkpoint's quantisation, which training cannot keep).
		in.grads = mustDType(orDefault(t.GradientDType, in.weights.Name))
	}
	in.optStates = mustDType(orDefault(t.OptimizerDType, optimizerStatesDefault(in.optimizer, in.trainer, trained)))

	if limit := m.MaxPositionEmbeddings; limit > 0 && in.context > limit && !t.AllowLongContext {
		errs = append(errs, fieldErrorf("context", "%d tokens exceed the model's limit of %d (max_position_embeddings after rope scaling); "+
			"set allow_long_context to estimate it anyway", in.context, limit))
	}
	errs = append(errs, checkLayout(in, m)...)
	in.warnings = warnings(in, m)
	if in.workload.trains() && in.optimizer.paged() {
		in.warnings = append(in.warnings, fmt.Sprintf("%s keeps its states in CUDA unified memory, outside PyTorch's allocator: "+
			"they take GPU memory that is free and page to host memory when it is not (slower steps), so they are counted as host memory, not in the GPU's total", in.optimizer))
	}
	if in.method == RuleOfThumb && t.MemoryUtilization != 0 && t.MemoryUtilization != 1 {
		in.warnings = append(in.warnings, fmt.Sprintf("memory_utilization %v is ignored: the rule-of-thumb method uses the whole GPU", t.MemoryUtilization))
	}
	return in, errs
}

// memoryCap is the share of each GPU the target may use: the one place that
// decides it, so that Usable, ForGPU and Assumptions agree. The seed's rules
// use the whole GPU; otherwise it is the target's memory_utilization, or the
// runtime's default for its workload.
func memoryCap(t Target, m Method, w Workload) float64 {
	switch {
	case m == RuleOfThumb:
		return 1
	case t.MemoryUtilization != 0:
		return t.MemoryUtilization
	case w == Inference:
		return DefaultInferenceUtilization
	}
	return DefaultTrainingUtilization
}

// weightsFormat picks the weights' format: the target's precision, else the
// checkpoint's own dtype for a frozen model read from disk, else its
// config's quantization_config, else bf16 (NF4 with double quantisation for
// qlora, as in the QLoRA paper).
func weightsFormat(t Target, m model.Model, w Workload) (DType, float64) {
	switch {
	case t.Precision != "":
		return mustDType(t.Precision), 0
	case w == QLoRAWork:
		return mustDType("nf4-dq"), 0
	case w != Training && m.Checkpoint != nil && m.Checkpoint.Bytes > 0:
		return mustDType(checkpointDType(m.Checkpoint)), float64(m.Checkpoint.Bytes)
	case w != Training && m.Quantization != nil:
		return DType{Name: m.Quantization.Name, Bits: m.Quantization.Bits, Source: "the config's quantization_config"}, 0
	}
	return mustDType("bf16"), 0
}

// checkpointDType names the dtype that holds most of a checkpoint's
// parameters, or bf16 when it is none that this package knows.
func checkpointDType(c *model.Checkpoint) string {
	names := make([]string, 0, len(c.Parameters))
	for name := range c.Parameters {
		names = append(names, name)
	}
	sort.Strings(names) // ties go to the first name, whatever the map order
	best, bestCount := "", int64(-1)
	for _, name := range names {
		if c.Parameters[name] > bestCount {
			best, bestCount = name, c.Parameters[name]
		}
	}
	if d, ok := safetensorsDTypes[best]; ok {
		return d
	}
	return "bf16"
}

// kvDefault is the KV cache format that engines pick by default: the
// model's compute dtype (vLLM's kv_cache_dtype "auto").
func kvDefault(weights DType) string {
	if weights.Name == "fp32" || weights.Name == "fp16" {
		return weights.Name
	}
	return "bf16"
}

// optimizerStatesDefault is the format of the optimizer's states unless
// optimizer_dtype says: bitsandbytes' own, else the trained parameters'
// for engines that use torch.optim as it is, else fp32.
func optimizerStatesDefault(o Optimizer, te trainingEngine, trained DType) string {
	switch {
	case o.stateDType() != "":
		return o.stateDType()
	case te.statesAsParams && trained.Float:
		return trained.Name
	}
	return "fp32"
}

// defaultContext is DefaultContext, or less when the model is shorter.
func defaultContext(m model.Model) int {
	if m.MaxPositionEmbeddings > 0 && m.MaxPositionEmbeddings < DefaultContext {
		return m.MaxPositionEmbeddings
	}
	return DefaultContext
}

// checkLayout checks the parallel degrees against the model's shape.
func checkLayout(in inputs, m model.Model) []fieldError {
	var errs []fieldError
	if n := in.tp * in.pp * in.dp; n > MaxGPUs {
		errs = append(errs, fieldErrorf("data_parallel", "the layout tensor_parallel × pipeline_parallel × data_parallel = %d GPUs is more than the %d this planner places", n, MaxGPUs))
	}
	if !m.KnownArchitecture {
		return errs
	}
	if !validTensorParallel(in.tp, m) {
		errs = append(errs, fieldErrorf("tensor_parallel",
			"%d does not divide the model's %d attention heads (and %d KV heads); valid degrees: %s",
			in.tp, m.Heads, m.KVHeads, joinInts(validTensorParallels(m, maxParallel))))
	}
	if in.pp > m.Layers {
		errs = append(errs, fieldErrorf("pipeline_parallel", "%d stages for %d layers; at most %d", in.pp, m.Layers, m.Layers))
	}
	return errs
}

// validTensorParallel reports whether tp splits the attention heads evenly
// and the KV heads evenly or by replication (vLLM's rule).
func validTensorParallel(tp int, m model.Model) bool {
	if !m.KnownArchitecture {
		return true
	}
	if tp < 1 || m.Heads%tp != 0 {
		return false
	}
	k := max(m.KVHeads, 1)
	return k%tp == 0 || tp%k == 0
}

// validTensorParallels lists the valid degrees up to limit.
func validTensorParallels(m model.Model, limit int) []int {
	var out []int
	for tp := 1; tp <= limit && tp <= max(m.Heads, 1); tp++ {
		if validTensorParallel(tp, m) {
			out = append(out, tp)
		}
	}
	return out
}

// warnings are remarks that do not stop the estimate.
func warnings(in inputs, m model.Model) []string {
	var out []string
	if !m.KnownArchitecture && in.method == Detailed {
		unknown := "kv_cache and activations are"
		if in.workload.trains() {
			unknown = "activations are"
		}
		out = append(out, fmt.Sprintf("%s unknown: a bare parameter count has no architecture (give a preset, architecture or hf_config)", unknown))
	}
	out = append(out, m.Warnings...)
	if m.MaxPositionEmbeddings > 0 && in.context > m.MaxPositionEmbeddings {
		out = append(out, fmt.Sprintf("context %d is longer than the model's limit of %d tokens (allow_long_context is set)",
			in.context, m.MaxPositionEmbeddings))
	}
	if in.workload == Inference && in.method == Detailed {
		if w := windowedLayers(m, in.context); w.layers > 0 {
			out = append(out, fmt.Sprintf("%d of %d layers keep at most %d of the %d tokens in the KV cache (sliding or chunked attention)",
				w.layers, m.Layers, w.widest, in.context))
		}
	}
	if m.KnownArchitecture && in.tp > m.KVHeads && m.KVHeads > 0 {
		out = append(out, fmt.Sprintf("tensor_parallel %d exceeds the %d KV heads: each GPU holds a copy of one KV head", in.tp, m.KVHeads))
	}
	if in.method == RuleOfThumb {
		out = append(out, "rule-of-thumb counts model weights (and, for training, gradients and optimizer states) only")
	}
	return out
}

// windowed counts the layers whose window is shorter than a context.
type windowed struct{ layers, widest int }

func windowedLayers(m model.Model, context int) windowed {
	var w windowed
	for _, l := range m.Decoder {
		if held := l.TokensHeld(context); held < context {
			w.layers++
			w.widest = max(w.widest, held)
		}
	}
	return w
}

// mustDType looks up a name that validation has already accepted.
func mustDType(name string) DType {
	d, err := LookupDType(name)
	if err != nil {
		panic(fmt.Sprintf("estimator: dtype %q passed validation: %v", name, err))
	}
	return d
}

func loraDType(l *LoRA) string {
	if l == nil {
		return ""
	}
	return l.DType
}

func orDefault(value, def string) string {
	if value == "" {
		return def
	}
	return value
}

func orDefaultInt(value, def int) int {
	if value == 0 {
		return def
	}
	return value
}

func joinInts(values []int) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
