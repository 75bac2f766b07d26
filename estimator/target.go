package estimator

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/vramfit/vramfit/estimator/model"
)

// Target is one model that operators plan to run: its source, workload,
// number formats, sequence shape and parallel layout. The zero value of a
// field means "not set": Estimate applies the documented default (the
// pointers mark fields whose zero is a meaningful setting).
type Target struct {
	Name     string            `json:"name"`
	Model    model.ModelSource `json:"model"`
	Workload Workload          `json:"workload,omitempty"`
	Method   Method            `json:"method,omitempty"`
	// Engine is the software that runs the target (neutral by default);
	// EngineProfile the range of its versions whose accounting applies
	// (the engine's newest by default).
	Engine        Engine `json:"engine,omitempty"`
	EngineProfile string `json:"engine_profile,omitempty"`

	// Precision is the weights' format; KVCacheDType, GradientDType and
	// OptimizerDType those of the KV cache, gradients and optimizer states.
	Precision      string    `json:"precision,omitempty"`
	KVCacheDType   string    `json:"kv_cache_dtype,omitempty"`
	GradientDType  string    `json:"gradient_dtype,omitempty"`
	Optimizer      Optimizer `json:"optimizer,omitempty"`
	OptimizerDType string    `json:"optimizer_dtype,omitempty"`
	// OptimizerInBackward steps each parameter as soon as its gradient is
	// ready (torchtune's optimizer_in_bwd); Offload keeps optimizer states,
	// or also the parameters, in host memory.
	OptimizerInBackward bool    `json:"optimizer_in_backward,omitempty"`
	Offload             Offload `json:"offload,omitempty"`

	// Context is the tokens per sequence; Batch the concurrent sequences
	// (inference) or the micro-batch per data-parallel rank (training).
	Context int `json:"context,omitempty"`
	Batch   int `json:"batch,omitempty"`
	// AllowLongContext accepts a context beyond the model's limit
	// (max_position_embeddings after rope scaling), as vLLM's
	// VLLM_ALLOW_LONG_MAX_MODEL_LEN does; without it that is an error.
	AllowLongContext bool `json:"allow_long_context,omitempty"`
	// MaxBatchedTokens is the tokens an inference engine runs through the
	// model at once (vLLM's max_num_batched_tokens): it sizes the workspace.
	MaxBatchedTokens int `json:"max_batched_tokens,omitempty"`
	// MaxNumSeqs is a serving engine's max_num_seqs (the sequences its
	// profiling run samples); NVLink says whether the target's
	// tensor-parallel GPUs share NVLink, where engines keep larger buffers
	// outside PyTorch: nil takes the GPU's answer (nvlink.go).
	MaxNumSeqs int   `json:"max_num_seqs,omitempty"`
	NVLink     *bool `json:"nvlink,omitempty"`
	// BlockSize is the tokens of one KV cache block (vLLM's block_size,
	// SGLang's page_size); EnforceEager turns CUDA graphs off.
	BlockSize    int  `json:"block_size,omitempty"`
	EnforceEager bool `json:"enforce_eager,omitempty"`

	TensorParallel   int `json:"tensor_parallel,omitempty"`
	PipelineParallel int `json:"pipeline_parallel,omitempty"`
	DataParallel     int `json:"data_parallel,omitempty"`
	// ZeROStage is nil when not set: placement may then choose it. Stage
	// 0, set, is plain DDP.
	ZeROStage        *int `json:"zero_stage,omitempty"`
	SequenceParallel bool `json:"sequence_parallel,omitempty"`

	FlashAttention *bool     `json:"flash_attention,omitempty"`
	Recompute      Recompute `json:"recompute,omitempty"`
	LoRA           *LoRA     `json:"lora,omitempty"`

	// MemoryUtilization caps the share of a GPU's memory the runtime uses
	// (vLLM's gpu_memory_utilization); Overhead is the per-GPU memory outside
	// the model (CUDA context, allocator reserve), in bytes.
	MemoryUtilization float64 `json:"memory_utilization,omitempty"`
	Overhead          *int64  `json:"overhead,omitempty"`

	// Pinned says that the host whose agent reads the file is meant to run
	// the target: the per-host alerts watch it there. It does not change
	// the estimate.
	Pinned bool `json:"pinned,omitempty"`

	// resolved is what the targets file's parser made of the target while
	// checking it, kept so that estimating it neither reads a file nor
	// validates a second time.
	resolved *resolvedModel
}

// resolvedModel is a model together with the source it was resolved from,
// and the target's estimation on it.
type resolvedModel struct {
	source model.ModelSource
	model  model.Model
	est    *Estimation
}

// parsed returns the parser's estimation of t while t is the target it
// estimated (a caller may change a field after parsing), else nil.
func (t Target) parsed() *Estimation {
	r := t.resolved
	if r == nil || r.est == nil {
		return nil
	}
	t.resolved = nil
	if t != r.est.target {
		return nil
	}
	return r.est
}

// resolveModel returns t's model, reusing the parser's while the source is
// the one it resolved.
func (t Target) resolveModel() (model.Model, error) {
	if r := t.resolved; r != nil && r.source == t.Model {
		return r.model, nil
	}
	return t.Model.Resolve("")
}

// LoRA describes the adapters of a lora or qlora workload.
type LoRA struct {
	Rank int `json:"rank,omitempty"`
	// Modules are the linear modules adapted (q_proj, v_proj, ...); empty
	// means every linear module of a decoder layer.
	Modules []string `json:"modules,omitempty"`
	// DType is the adapters' format (PEFT keeps them in fp32 by default).
	DType string `json:"dtype,omitempty"`
}

// Workload is what the GPUs do with the model.
type Workload string

// The workloads.
const (
	Inference Workload = "inference"
	Training  Workload = "training"
	LoRAWork  Workload = "lora"
	QLoRAWork Workload = "qlora"
)

var workloads = []Workload{Inference, Training, LoRAWork, QLoRAWork}

// trains reports whether the workload runs backward passes.
func (w Workload) trains() bool { return w == Training || w.adapts() }

// adapts reports whether the workload trains adapters on a frozen base.
func (w Workload) adapts() bool { return w == LoRAWork || w == QLoRAWork }

// Method is how the estimate is made.
type Method string

// The methods.
const (
	// Detailed is the component model of docs/estimator.md.
	Detailed Method = "detailed"
	// RuleOfThumb is the seed article's engineering rules, reproduced exactly.
	RuleOfThumb Method = "rule-of-thumb"
)

var methods = []Method{Detailed, RuleOfThumb}

// Optimizer is the training optimizer, whose states the GPU holds.
type Optimizer string

// The optimizers: torch.optim's AdamW and SGD, and bitsandbytes' 8-bit and
// paged AdamW.
const (
	AdamW           Optimizer = "adamw"
	AdamW8bit       Optimizer = "adamw-8bit"
	PagedAdamW8bit  Optimizer = "paged-adamw-8bit"
	PagedAdamW32bit Optimizer = "paged-adamw-32bit"
	SGDMomentum     Optimizer = "sgd-momentum"
	SGD             Optimizer = "sgd"
)

var optimizers = []Optimizer{AdamW, AdamW8bit, PagedAdamW8bit, PagedAdamW32bit, SGDMomentum, SGD}

// states is the number of per-parameter state tensors.
func (o Optimizer) states() int {
	switch o {
	case AdamW, AdamW8bit, PagedAdamW8bit, PagedAdamW32bit:
		return 2 // first and second moments
	case SGDMomentum:
		return 1
	case SGD:
		return 0
	}
	panic(fmt.Sprintf("estimator: optimizer %q passed validation but has no states", o))
}

// Recompute is the activation recomputation (checkpointing) strategy.
type Recompute string

// The recomputation strategies of Korthikanti et al.
const (
	RecomputeNone      Recompute = "none"
	RecomputeSelective Recompute = "selective"
	RecomputeFull      Recompute = "full"
)

var recomputes = []Recompute{RecomputeNone, RecomputeSelective, RecomputeFull}

// Bounds of the numeric fields: generous for real use, small enough that
// every product in the memory model stays finite and exact enough.
const (
	maxNameLength       = 128
	MaxContext          = 1 << 24 // 16,777,216 tokens
	MaxBatch            = 1 << 20
	maxParallel         = 1 << 16
	maxLoRARank         = 1 << 16
	maxLoRAModules      = 64
	maxModuleNameLength = 128
	maxBlockSize        = 1 << 16
)

// ErrInvalidTarget is wrapped by every error about a target's fields.
var ErrInvalidTarget = errors.New("invalid target")

// fieldError is a problem with one field of a target, named by its key in
// the targets file ("batch", "lora.rank").
type fieldError struct {
	field string
	msg   string
	cause error // a wrapped cause (an ErrInvalidModel), or nil
}

func fieldErrorf(field, format string, args ...any) fieldError {
	return fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// TargetError locates a fieldError: in a file ("targets.yml:7:
// targets[1].batch: ..."), on the command line ("--batch: ...") or in a
// target built by a program (`target "x": batch: ...`).
type TargetError struct {
	Where string // "targets.yml:7: targets[1]", "targets.yml", "--batch" or `target "x"`
	Field string
	Msg   string
	// Cause is what the error wraps besides ErrInvalidTarget: an
	// ErrInvalidModel, the error of reading a file, or nil.
	Cause error
}

func (e *TargetError) Error() string {
	switch {
	case e.Field == "":
		return e.Where + ": " + e.Msg
	case strings.HasPrefix(e.Where, "--"):
		return e.Where + ": " + e.Msg
	case strings.HasSuffix(e.Where, "]") || strings.HasSuffix(e.Where, ": defaults"):
		return e.Where + "." + e.Field + ": " + e.Msg
	default:
		return e.Where + ": " + e.Field + ": " + e.Msg
	}
}

// Unwrap matches ErrInvalidTarget and the cause, if any.
func (e *TargetError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrInvalidTarget, e.Cause}
	}
	return []error{ErrInvalidTarget}
}

// validateName checks a target's name: it becomes a Prometheus label value.
func validateName(name string) []fieldError {
	switch {
	case name == "":
		return []fieldError{fieldErrorf("name", "must not be empty")}
	case len(name) > maxNameLength:
		return []fieldError{fieldErrorf("name", "is %d bytes long; at most %d are allowed", len(name), maxNameLength)}
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return []fieldError{fieldErrorf("name", "%q holds a control character or invalid UTF-8", name)}
		}
	}
	return nil
}

// validate checks every field that does not need the model; a zero value is
// "not set" and passes.
func (t Target) validate() []fieldError {
	errs := t.validateFields(true)
	errs = append(errs, t.validateLoRA()...)
	errs = append(errs, t.validateEngine()...)
	return append(errs, t.validateCombination()...)
}

// validateFields checks each field on its own (and the name, when named:
// the defaults block has none).
func (t Target) validateFields(named bool) []fieldError {
	var errs []fieldError
	if named {
		errs = validateName(t.Name)
	}
	enum := func(field, value string, valid []string) {
		if value != "" && !contains(valid, value) {
			errs = append(errs, fieldErrorf(field, "unknown %q; valid: %s", value, strings.Join(valid, ", ")))
		}
	}
	enum("workload", string(t.Workload), enumNames(workloads))
	enum("method", string(t.Method), enumNames(methods))
	enum("optimizer", string(t.Optimizer), enumNames(optimizers))
	enum("engine", string(t.Engine), enumNames(engines))
	enum("offload", string(t.Offload), enumNames(offloads))
	enum("recompute", string(t.Recompute), enumNames(recomputes))

	dtype := func(field, value string, role dtypeRole) {
		if value == "" {
			return
		}
		if _, err := lookupDType(value, role); err != nil {
			errs = append(errs, fieldError{field: field, msg: err.Error()})
		}
	}
	weightsRole := roleWeights
	if t.Workload == Training {
		weightsRole = roleTrainingWeights
	}
	dtype("precision", t.Precision, weightsRole)
	dtype("kv_cache_dtype", t.KVCacheDType, roleKVCache)
	dtype("gradient_dtype", t.GradientDType, roleGradients)
	dtype("optimizer_dtype", t.OptimizerDType, roleOptimizer)

	positive := func(field string, value, limit int) {
		if value == 0 { // not set
			return
		}
		if err := checkRange(int64(value), 1, int64(limit)); err != nil {
			errs = append(errs, fieldError{field: field, msg: err.Error()})
		}
	}
	positive("context", t.Context, MaxContext)
	positive("batch", t.Batch, MaxBatch)
	positive("max_batched_tokens", t.MaxBatchedTokens, MaxContext)
	positive("max_num_seqs", t.MaxNumSeqs, MaxBatch)
	positive("block_size", t.BlockSize, maxBlockSize)
	positive("tensor_parallel", t.TensorParallel, maxParallel)
	positive("pipeline_parallel", t.PipelineParallel, maxParallel)
	positive("data_parallel", t.DataParallel, maxParallel)
	if z := t.ZeROStage; z != nil && (*z < 0 || *z > 3) {
		errs = append(errs, fieldErrorf("zero_stage", "must be 0, 1, 2 or 3, got %d", *z))
	}
	if u := t.MemoryUtilization; u < 0 || u > 1 || u != u {
		errs = append(errs, fieldErrorf("memory_utilization", "must be more than 0 and at most 1, got %v", u))
	}
	if t.Overhead != nil && (*t.Overhead < 0 || *t.Overhead > MaxSize) {
		errs = append(errs, fieldErrorf("overhead", "must be between 0 and 1EiB, got %d bytes", *t.Overhead))
	}
	return errs
}

func (t Target) validateLoRA() []fieldError {
	if t.LoRA == nil {
		return nil
	}
	var errs []fieldError
	if !t.workload().adapts() {
		errs = append(errs, fieldErrorf("lora", "applies to workloads lora and qlora, not %s", t.workload()))
	}
	if r := t.LoRA.Rank; r != 0 {
		if err := checkRange(int64(r), 1, maxLoRARank); err != nil {
			errs = append(errs, fieldError{field: "lora.rank", msg: err.Error()})
		}
	}
	if len(t.LoRA.Modules) > maxLoRAModules {
		errs = append(errs, fieldErrorf("lora.modules", "lists %d modules; at most %d are allowed", len(t.LoRA.Modules), maxLoRAModules))
	}
	seen := map[string]bool{}
	for _, m := range t.LoRA.Modules {
		switch {
		case m == "" || len(m) > maxModuleNameLength || strings.ContainsFunc(m, unicode.IsControl):
			errs = append(errs, fieldErrorf("lora.modules", "module name %q must be 1 to %d printable characters", trimForError(m), maxModuleNameLength))
		case seen[m]:
			errs = append(errs, fieldErrorf("lora.modules", "module %q is listed twice", m))
		}
		seen[m] = true
	}
	if t.LoRA.DType != "" {
		if _, err := lookupDType(t.LoRA.DType, roleAdapter); err != nil {
			errs = append(errs, fieldError{field: "lora.dtype", msg: err.Error()})
		}
	}
	return errs
}

// validateCombination checks fields against each other.
func (t Target) validateCombination() []fieldError {
	var errs []fieldError
	if t.Method == RuleOfThumb && t.workload().adapts() {
		errs = append(errs, fieldErrorf("method", "rule-of-thumb has rules for workloads inference and training only, not %s", t.Workload))
	}
	if t.Workload == QLoRAWork && t.Precision != "" && !strings.HasPrefix(t.Precision, "nf4") {
		errs = append(errs, fieldErrorf("precision", "qlora quantises the base model to nf4 or nf4-dq, not %s", t.Precision))
	}
	if !t.workload().trains() {
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"gradient_dtype", t.GradientDType != ""}, {"optimizer", t.Optimizer != ""},
			{"optimizer_dtype", t.OptimizerDType != ""}, {"zero_stage", t.ZeROStage != nil},
			{"recompute", t.Recompute != ""}, {"sequence_parallel", t.SequenceParallel},
			{"optimizer_in_backward", t.OptimizerInBackward}, {"offload", t.Offload != ""},
		} {
			if f.set {
				errs = append(errs, fieldErrorf(f.field, "applies to training workloads, not inference"))
			}
		}
	} else if t.MaxBatchedTokens != 0 {
		errs = append(errs, fieldErrorf("max_batched_tokens", "applies to inference, not %s", t.Workload))
	}
	if z := t.ZeROStage; t.Offload == OffloadParams && (z == nil || *z != 3) {
		got := "unset"
		if z != nil {
			got = fmt.Sprint(*z)
		}
		errs = append(errs, fieldErrorf("offload", "params needs zero_stage 3 (ZeRO-3 or FSDP full sharding gathers the offloaded parameters layer by layer), got zero_stage %s", got))
	}
	return errs
}

// workload is the workload with its default.
func (t Target) workload() Workload {
	if t.Workload == "" {
		return Inference
	}
	return t.Workload
}

// checkRange says which bound a value breaks.
func checkRange(v, lo, hi int64) error {
	switch {
	case v < lo:
		return fmt.Errorf("must be at least %d, got %d", lo, v)
	case v > hi:
		return fmt.Errorf("must be at most %d, got %d", hi, v)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func enumNames[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
