// Package estimator is the memory maths: a target (a model, its workload,
// precisions, batch, context and parallel layout) becomes the bytes each
// GPU holds, by component, and the GPUs it needs. The model itself (its
// layers, read from presets, config.json files and safetensors headers)
// comes from package model, a serving engine's accounting from package
// engine, and the targets file is read by package targetsfile.
//
// The table of a target's fields (TargetFields: each field's key, kind,
// bounds and setter) is here, beside Target and its validation, because it
// is the schema of a Target: the targets file's keys (package targetsfile)
// and cmd/vramfit's flags of the same names both fill a Target through it,
// and both import this package, so neither imports the other. Its setters
// share the bounds and the number formats of each role with the
// validation here.
package estimator

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vramfit/vramfit/estimator/model"
)

// Components are the bytes one GPU holds, by part. A part listed in Unknown
// could not be estimated (a bare parameter count has no architecture): it is
// 0 here and left out of Total, never silently counted as nothing.
type Components struct {
	Weights     int64    `json:"weights"`
	KVCache     int64    `json:"kv_cache"`
	Activations int64    `json:"activations"`
	Gradients   int64    `json:"gradients"`
	Optimizer   int64    `json:"optimizer"`
	Overhead    int64    `json:"overhead"`
	Total       int64    `json:"total"`
	Unknown     []string `json:"unknown,omitempty"`
	// Host is what training keeps in host memory for this GPU instead
	// (offloaded states, a paged optimizer's states); not in Total.
	Host int64 `json:"host,omitempty"`
}

// Part is one named component of a requirement: weights, kv_cache,
// activations, gradients, optimizer, overhead or total.
type Part struct {
	Name  string
	Bytes int64
	// Known is false for a part listed in Components.Unknown.
	Known bool
}

// Parts lists c's components in a fixed order, total last: the order of the
// metric's component label, the status page and the planner's table.
func (c Components) Parts() []Part {
	parts := []Part{
		{Name: "weights", Bytes: c.Weights}, {Name: "kv_cache", Bytes: c.KVCache},
		{Name: "activations", Bytes: c.Activations}, {Name: "gradients", Bytes: c.Gradients},
		{Name: "optimizer", Bytes: c.Optimizer}, {Name: "overhead", Bytes: c.Overhead},
		{Name: "total", Bytes: c.Total},
	}
	for i := range parts {
		parts[i].Known = !slices.Contains(c.Unknown, parts[i].Name)
	}
	return parts
}

// Layout is how a target is spread over GPUs. For inference DataParallel
// counts replicas; for training ZeROStage says what data parallelism shards.
type Layout struct {
	TensorParallel   int `json:"tensor_parallel"`
	PipelineParallel int `json:"pipeline_parallel"`
	DataParallel     int `json:"data_parallel"`
	ZeROStage        int `json:"zero_stage"`
}

// GPUs is the number of GPUs the layout occupies.
func (l Layout) GPUs() int { return l.TensorParallel * l.PipelineParallel * l.DataParallel }

// Requirement is a target's need per GPU in its own layout.
type Requirement struct {
	Components
	Layout Layout
	GPUs   int
}

// Estimation is a target with its model resolved and every input that does
// not depend on free memory settled. Its methods are arithmetic over
// prefix sums of the layers and read nothing: Estimate is the step that
// reads files.
type Estimation struct {
	target   Target
	model    model.Model
	sums     layerSums
	in       inputs
	own      Layout
	ownNeed  Components
	warnings []string
}

// Estimate resolves the target's model (a preset lookup, or reading a
// config.json and the safetensors headers beside it) and checks the target
// against it. A target from a targets file that has not changed since it
// was parsed keeps the estimation its parser made: nothing is read or
// checked twice. The result does not depend on free memory.
func Estimate(t Target) (*Estimation, error) {
	if e := t.parsed(); e != nil {
		return e, nil
	}
	if errs := t.validate(); len(errs) > 0 {
		return nil, targetErrors(fmt.Sprintf("target %q", t.Name), errs)
	}
	m, err := t.resolveModel()
	if err != nil {
		return nil, &TargetError{Where: fmt.Sprintf("target %q", t.Name), Field: "model", Msg: err.Error(), Cause: err}
	}
	e, errs := newEstimation(t, m)
	if len(errs) > 0 {
		return nil, targetErrors(fmt.Sprintf("target %q", t.Name), errs)
	}
	return e, nil
}

// ResolveTarget is Estimate's first step for a targets file's parser: it
// checks every field of t, resolves its model (a relative hf_config against
// dir) and settles its estimation on that model. The target it returns keeps
// that estimation, so that Estimate of it, while unchanged, reads and
// checks nothing again. Each error names its field; Where is left for the
// caller to fill in (a file and line).
func ResolveTarget(t Target, dir string) (Target, []*TargetError) {
	if errs := t.validate(); len(errs) > 0 {
		return t, located(errs)
	}
	m, err := t.Model.Resolve(dir)
	if err != nil {
		return t, located([]fieldError{{field: "model", msg: err.Error(), cause: err}})
	}
	e, errs := newEstimation(t, m)
	if len(errs) > 0 {
		return t, located(errs)
	}
	t.resolved = &resolvedModel{source: t.Model, model: m, est: e}
	return t, nil
}

// CheckDefaults checks the defaults of a targets file: each field on its
// own, since the targets they apply to are checked whole. As with
// ResolveTarget, Where is left to the caller.
func CheckDefaults(t Target) []*TargetError { return located(t.validateFields(false)) }

// located turns field errors into TargetErrors without a place.
func located(errs []fieldError) []*TargetError {
	out := make([]*TargetError, len(errs))
	for i, fe := range errs {
		out[i] = &TargetError{Field: fe.field, Msg: fe.msg, Cause: fe.cause}
	}
	return out
}

// newEstimation settles the inputs of a validated target on its model.
func newEstimation(t Target, m model.Model) (*Estimation, []fieldError) {
	in, errs := resolveInputs(t, m)
	if len(errs) > 0 {
		return nil, errs
	}
	e := &Estimation{target: t, model: m, sums: newLayerSums(m.Decoder), in: in}
	e.own = Layout{TensorParallel: in.tp, PipelineParallel: in.pp, DataParallel: in.dp, ZeROStage: in.zero}
	e.ownNeed = e.components(e.own, in.batch, in.context)
	if e.ownNeed.Total > MaxSize {
		return nil, []fieldError{fieldErrorf("model", "needs %s per GPU, more than the 1EiB this planner handles", FormatGiB(e.ownNeed.Total))}
	}
	e.warnings = in.warnings
	return e, nil
}

// targetErrors joins field errors located at where.
func targetErrors(where string, errs []fieldError) error {
	out := make([]error, len(errs))
	for i, fe := range errs {
		out[i] = &TargetError{Where: where, Field: fe.field, Msg: fe.msg, Cause: fe.cause}
	}
	if len(out) == 1 {
		return out[0]
	}
	return ErrorList(out)
}

// ErrorList is several errors: it prints one per line and matches each of
// them. A hostile targets file can hold thousands of errors: the first 50
// are printed, then their count.
type ErrorList []error

const maxPrintedErrors = 50

// Error prints the errors one per line, at most 50 of them.
func (j ErrorList) Error() string {
	var b strings.Builder
	for i, err := range j {
		if i == maxPrintedErrors {
			fmt.Fprintf(&b, "\n(and %d more errors)", len(j)-i)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the errors, so that errors.Is and errors.As match each.
func (j ErrorList) Unwrap() []error { return j }

// Target is the target estimated, as given.
func (e *Estimation) Target() Target { return e.target }

// Context is the tokens per sequence, with its default applied.
func (e *Estimation) Context() int { return e.in.context }

// Batch is the concurrent sequences (inference) or the micro-batch per
// data-parallel rank (training), with its default applied.
func (e *Estimation) Batch() int { return e.in.batch }

// KVCacheDType is the KV cache's format as used (inference).
func (e *Estimation) KVCacheDType() string { return e.in.kv.Name }

// Model returns the resolved model.
func (e *Estimation) Model() model.Model { return e.model }

// Workload is the target's workload with its default applied.
func (e *Estimation) Workload() Workload { return e.in.workload }

// Method is the target's method with its default applied.
func (e *Estimation) Method() Method { return e.in.method }

// Precision is the weights' format as used ("bf16", "nf4-dq", or the
// checkpoint's dominant dtype).
func (e *Estimation) Precision() string { return e.in.weights.Name }

// Warnings are the remarks on this estimate (a context above the model's
// max_position_embeddings, parts left unknown, ...).
func (e *Estimation) Warnings() []string { return append([]string(nil), e.warnings...) }

// Requirement is the need per GPU in the target's own layout (its
// tensor_parallel etc.; one GPU by default).
func (e *Estimation) Requirement() Requirement {
	return Requirement{Components: e.ownNeed, Layout: e.own, GPUs: e.own.GPUs()}
}

// Usable is the memory a GPU offers this target: what NVML does not reserve,
// times the runtime's memory cap. A serving engine applies its memory
// fraction inside its own accounting: it is offered all of it.
func (e *Estimation) Usable(total, reserved int64) int64 {
	free := total - reserved
	if free <= 0 {
		return 0
	}
	if e.Serves() {
		return free
	}
	return int64(math.Floor(float64(free) * e.in.util))
}

// KVCacheBytesPerToken is the KV cache of one token over the whole model in
// the target's KV dtype; ok is false when the architecture is unknown.
func (e *Estimation) KVCacheBytesPerToken() (bytes int64, ok bool) {
	if !e.model.KnownArchitecture {
		return 0, false
	}
	return ceilBytes(e.kvPerToken(Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: 1})), true
}

// ceilBytes rounds a byte count up. Counts above MaxSize come back as
// MaxSize+1, so that a sum of a few of them cannot overflow and still reads
// as too large.
func ceilBytes(x float64) int64 {
	switch {
	case x <= 0 || math.IsNaN(x):
		return 0
	case x > float64(MaxSize):
		return MaxSize + 1
	}
	return int64(math.Ceil(x))
}
