package estimator

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FieldKind is the type of value a field takes: the YAML type of its key in
// a targets file, and whether its flag takes a value.
type FieldKind int

// The kinds of value.
const (
	KindString FieldKind = iota
	KindInt
	KindFloat
	KindBool
	KindSize // a size such as 1GiB (a string) or a number of bytes
)

// String names the kind for an error message ("must be an integer").
func (k FieldKind) String() string {
	return [...]string{"a string", "an integer", "a number", "true or false", "a size such as 1GiB or a number of bytes"}[k]
}

// TargetField is one scalar setting of a target: a key of the targets file
// and the command-line flag of the same name with dashes.
type TargetField struct {
	Key  string
	Help string
	kind FieldKind
	set  func(t *Target, value string) error
}

// Kind is the type of value the field takes.
func (f TargetField) Kind() FieldKind { return f.kind }

// Flag is the field's command-line flag name.
func (f TargetField) Flag() string { return strings.ReplaceAll(f.Key, "_", "-") }

// IsBool reports whether the field is a switch (a flag without a value).
func (f TargetField) IsBool() bool { return f.kind == KindBool }

// Set parses value (the text of a YAML scalar or a flag) into t. A value the
// field cannot take is an error that says what would be valid.
func (f TargetField) Set(t *Target, value string) error { return f.set(t, value) }

// TargetFields lists the scalar fields of a target, in the order of the
// targets file's documentation. The nested blocks `model:` and `lora:` and
// the name are handled on their own.
func TargetFields() []TargetField { return append([]TargetField(nil), targetFields...) }

var targetFields = []TargetField{
	enumField("workload", "What the GPUs do: "+strings.Join(enumNames(workloads), ", ")+" (default inference).",
		enumNames(workloads), func(t *Target, v string) { t.Workload = Workload(v) }),
	enumField("method", "How to estimate: detailed (default) or rule-of-thumb (the seed article's rules).",
		enumNames(methods), func(t *Target, v string) { t.Method = Method(v) }),
	dtypeField("precision", "Format of the weights: fp32, bf16 (default), fp16, fp8, int8, int4, nf4, nf4-dq or a GGUF type such as q4_k_m.",
		roleWeights, func(t *Target, v string) { t.Precision = v }),
	dtypeField("kv_cache_dtype", "Format of the KV cache (default: the compute dtype, bf16).",
		roleKVCache, func(t *Target, v string) { t.KVCacheDType = v }),
	dtypeField("gradient_dtype", "Format of the gradients (default: that of the trained weights).",
		roleGradients, func(t *Target, v string) { t.GradientDType = v }),
	enumField("engine", "Software that runs the target: "+strings.Join(enumNames(engines), ", ")+
		" (default neutral, the engine-neutral model; vllm and sglang serve, torchtune, hf and deepspeed train).",
		enumNames(engines), func(t *Target, v string) { t.Engine = Engine(v) }),
	{Key: "engine_profile", Help: "The range of the engine's versions whose accounting applies, such as vllm-v1-0.18 or torchtune-0.2 (default: the engine's newest).",
		kind: KindString, set: func(t *Target, v string) error { t.EngineProfile = strings.TrimSpace(v); return nil }},
	enumField("optimizer", "Training optimizer: "+strings.Join(enumNames(optimizers), ", ")+" (default adamw).",
		enumNames(optimizers), func(t *Target, v string) { t.Optimizer = Optimizer(v) }),
	dtypeField("optimizer_dtype", "Format of the optimizer states: fp32, bf16 or int8 (default: the 8-bit optimizers' int8, else fp32, or the trained parameters' own for torchtune and hf).",
		roleOptimizer, func(t *Target, v string) { t.OptimizerDType = v }),
	boolField("optimizer_in_backward", "Training: step each parameter as soon as its gradient is ready, so that no full set of gradients is held (torchtune's optimizer_in_bwd).",
		func(t *Target, v bool) { t.OptimizerInBackward = v }),
	enumField("offload", "Training: keep in host memory the optimizer's states and gradients (optimizer), or also the parameters (params, needs zero_stage 3); default none.",
		enumNames(offloads), func(t *Target, v string) { t.Offload = Offload(v) }),
	intField("context", "Tokens per sequence (default 4096, or the model's maximum when shorter).", 1, MaxContext,
		func(t *Target, v int) { t.Context = v }),
	boolField("allow_long_context", "Accept a context beyond the model's limit (max_position_embeddings after rope scaling); otherwise that is an error.",
		func(t *Target, v bool) { t.AllowLongContext = v }),
	intField("batch", "Concurrent sequences (inference) or micro-batch per data-parallel rank (training); default 1.", 1, MaxBatch,
		func(t *Target, v int) { t.Batch = v }),
	intField("max_batched_tokens", "Inference: tokens per forward pass, vLLM's max_num_batched_tokens (default 8192).", 1, MaxContext,
		func(t *Target, v int) { t.MaxBatchedTokens = v }),
	intField("max_num_seqs", "Serving engines: the sequences the engine schedules at once, vLLM's max_num_seqs (default: the engine's).", 1, MaxBatch,
		func(t *Target, v int) { t.MaxNumSeqs = v }),
	boolField("nvlink", "Serving engines: whether the tensor-parallel GPUs share NVLink, where vLLM keeps larger buffers outside PyTorch (default: as the GPU is, from the GPU catalog; false without a GPU).",
		func(t *Target, v bool) { t.NVLink = &v }),
	intField("block_size", "Serving engines: tokens of one KV cache block, vLLM's block_size or SGLang's page_size (default: the engine's).", 1, maxBlockSize,
		func(t *Target, v int) { t.BlockSize = v }),
	boolField("enforce_eager", "Serving engines: no CUDA graphs (vLLM's enforce_eager).",
		func(t *Target, v bool) { t.EnforceEager = v }),
	intField("tensor_parallel", "Tensor-parallel degree; it must divide the attention heads (default 1).", 1, maxParallel,
		func(t *Target, v int) { t.TensorParallel = v }),
	intField("pipeline_parallel", "Pipeline stages (default 1).", 1, maxParallel,
		func(t *Target, v int) { t.PipelineParallel = v }),
	intField("data_parallel", "Data-parallel degree (inference: replicas); default 1.", 1, maxParallel,
		func(t *Target, v int) { t.DataParallel = v }),
	intField("zero_stage", "ZeRO stage 0-3: 0 is plain DDP, 1 shards optimizer states, 2 also gradients, 3 also weights (default: 3 with more than one data-parallel GPU, else 0).", 0, 3,
		func(t *Target, v int) { t.ZeROStage = &v }),
	boolField("sequence_parallel", "Training: Megatron sequence parallelism, which splits the activations that tensor parallelism leaves whole.",
		func(t *Target, v bool) { t.SequenceParallel = v }),
	boolField("flash_attention", "FlashAttention: no s×s attention matrix is stored (default true).",
		func(t *Target, v bool) { t.FlashAttention = &v }),
	enumField("recompute", "Training: activation recomputation none (default), selective or full.",
		enumNames(recomputes), func(t *Target, v string) { t.Recompute = Recompute(v) }),
	{Key: "memory_utilization", Help: "Share of each GPU's memory the runtime may use (default 0.90 for inference, 1.0 for training).",
		kind: KindFloat, set: func(t *Target, v string) error {
			u, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(u) || u <= 0 || u > 1 {
				return fmt.Errorf("must be a number more than 0 and at most 1, got %q", trimForError(v))
			}
			t.MemoryUtilization = u
			return nil
		}},
	boolField("pinned", "This host is meant to run the target: the per-host alerts (VramfitTargetNoLongerFits, VramfitTargetExceedsHardware) watch it here. No effect on the estimate.",
		func(t *Target, v bool) { t.Pinned = v }),
	{Key: "overhead", Help: "Per-GPU memory outside the model: CUDA context and allocator reserve (default 1GiB).",
		kind: KindSize, set: func(t *Target, v string) error {
			b, err := ParseSize(v)
			if err != nil {
				return err
			}
			t.Overhead = &b
			return nil
		}},
}

func enumField(key, help string, valid []string, set func(*Target, string)) TargetField {
	return TargetField{Key: key, Help: help, kind: KindString, set: func(t *Target, v string) error {
		if !contains(valid, v) {
			return fmt.Errorf("unknown %q; valid: %s", trimForError(v), strings.Join(valid, ", "))
		}
		set(t, v)
		return nil
	}}
}

func dtypeField(key, help string, role dtypeRole, set func(*Target, string)) TargetField {
	return TargetField{Key: key, Help: help, kind: KindString, set: func(t *Target, v string) error {
		d, err := lookupDType(v, role)
		if err != nil {
			return err
		}
		set(t, d.Name)
		return nil
	}}
}

func intField(key, help string, lo, hi int, set func(*Target, int)) TargetField {
	return TargetField{Key: key, Help: help, kind: KindInt, set: func(t *Target, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 0, 64)
		if err != nil {
			return fmt.Errorf("must be a whole number from %d to %d, got %q", lo, hi, trimForError(v))
		}
		if err := checkRange(n, int64(lo), int64(hi)); err != nil {
			return err
		}
		set(t, int(n))
		return nil
	}}
}

func boolField(key, help string, set func(*Target, bool)) TargetField {
	return TargetField{Key: key, Help: help, kind: KindBool, set: func(t *Target, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", trimForError(v))
		}
		set(t, b)
		return nil
	}}
}

// SetLoRARank, SetLoRAModules and SetLoRADType fill the `lora:` block from
// flags (--lora-rank, --lora-modules q_proj,v_proj, --lora-dtype).
func SetLoRARank(t *Target, value string) error {
	return intField("rank", "", 1, maxLoRARank, func(t *Target, v int) { loraOf(t).Rank = v }).set(t, value)
}

// SetLoRAModules sets the adapted modules from a comma-separated list.
func SetLoRAModules(t *Target, value string) error {
	var modules []string
	for _, m := range strings.Split(value, ",") {
		if m = strings.TrimSpace(m); m != "" {
			modules = append(modules, m)
		}
	}
	if len(modules) == 0 {
		return fmt.Errorf("want a comma-separated list of linear modules such as q_proj,v_proj")
	}
	loraOf(t).Modules = modules
	return nil
}

// SetLoRADType sets the adapters' format.
func SetLoRADType(t *Target, value string) error {
	d, err := lookupDType(value, roleAdapter)
	if err != nil {
		return err
	}
	loraOf(t).DType = d.Name
	return nil
}

func loraOf(t *Target) *LoRA {
	if t.LoRA == nil {
		t.LoRA = &LoRA{}
	}
	return t.LoRA
}

// FieldApplies reports whether field key, set to value, concerns a target of
// workload w, so that a targets file's defaults for training fields do not
// trouble inference targets, nor a default engine the workloads it does not
// run. A value that is not one plain value (scalar false: a list, a
// mapping) concerns the targets its key does, so that its error is reported.
func FieldApplies(w Workload, key, value string, scalar bool) bool {
	switch key {
	case "engine":
		return !scalar || contains(enginesFor(w), value)
	case "engine_profile":
		if !scalar {
			return true
		}
		for _, g := range enginesFor(w) {
			if contains(engineProfiles(Engine(g), w), value) {
				return true
			}
		}
		return false
	case "max_num_seqs", "nvlink", "block_size", "enforce_eager":
		return w == Inference
	case "gradient_dtype", "optimizer", "optimizer_dtype", "zero_stage", "recompute", "sequence_parallel",
		"optimizer_in_backward", "offload":
		return w.trains()
	case "lora":
		return w.adapts()
	case "max_batched_tokens":
		return w == Inference
	case "precision":
		// QLoRA's base is quantised (nf4-dq by default): a file-wide 16-bit
		// precision is meant for the other targets.
		return w != QLoRAWork
	}
	return true
}
