// Package report is one target's estimate as vramfit prints and serves it:
// the object of `vramfit estimate --output json` (DESIGN.md § Output), which
// the agent's /api/v1/targets and status page also show. It reads an
// estimator.Estimation through its exported methods and holds no maths of
// its own; the table that `vramfit estimate` prints is cmd/vramfit's.
package report

import (
	"fmt"

	"github.com/vramfit/vramfit/estimator"
)

// Report is one target's estimate as `vramfit estimate --output json`
// prints it (DESIGN.md § Output), field for field.
type Report struct {
	Target           string             `json:"target"`
	Method           estimator.Method   `json:"method"`
	Workload         estimator.Workload `json:"workload"`
	Model            string             `json:"model"`
	Precision        string             `json:"precision"`
	KVCacheDType     string             `json:"kv_cache_dtype,omitempty"`
	Context          int                `json:"context"`
	Batch            int                `json:"batch"`
	Parameters       int64              `json:"parameters"`
	ParametersActive int64              `json:"parameters_active"`
	// ParametersVision is a multimodal model's vision tower and projector,
	// included in Parameters; ParametersNextToken DeepSeek-V3's
	// multi-token-prediction layers, left out of it (engines do not load
	// them by default).
	ParametersVision    int64 `json:"parameters_vision,omitempty"`
	ParametersNextToken int64 `json:"parameters_next_token,omitempty"`
	// KVCacheBytesPerToken is null when the architecture is unknown.
	KVCacheBytesPerToken *int64 `json:"kv_cache_bytes_per_token"`
	// PerGPUBytes holds null for each part that could not be estimated.
	PerGPUBytes Bytes `json:"per_gpu_bytes"`
	// GPUs is the count PerGPUBytes applies to: GPUsRequired when a GPU is
	// given and the target fits, else the target's own layout's.
	GPUs   int              `json:"gpus"`
	Layout estimator.Layout `json:"layout"`
	// Chosen names the layout fields the target leaves open and placement
	// set; empty without a GPU or when nothing fits.
	Chosen []string       `json:"chosen"`
	GPU    *estimator.GPU `json:"gpu"`
	// GPUsRequired is null without a GPU, 0 when no count fits.
	GPUsRequired   *int   `json:"gpus_required"`
	UnfitReason    string `json:"unfit_reason"`
	ReplicasPerGPU int    `json:"replicas_per_gpu"`
	// MaxBatch and MaxContext are the sequences of the target's context and
	// the longest context that fit on the GPUs it needs (0 when no count
	// fits); null without a GPU, or where the need does not follow the
	// batch and context in a way this estimate knows (a bare parameter
	// count, the rule-of-thumb method): unknown is not zero.
	MaxBatch   *int `json:"max_batch"`
	MaxContext *int `json:"max_context"`
	// Engine is the target's engine; for a serving engine on a GPU,
	// KVCacheTokens is the tokens its KV cache holds for one replica and
	// MaxConcurrency the requests of the full context it serves at once, as
	// the engine logs it.
	Engine         estimator.Engine      `json:"engine"`
	KVCacheTokens  int64                 `json:"kv_cache_tokens"`
	MaxConcurrency float64               `json:"max_concurrency"`
	Assumptions    estimator.Assumptions `json:"assumptions"`
	Warnings       []string              `json:"warnings"`
}

// Bytes are the per-GPU components; null marks an unknown part.
type Bytes struct {
	Weights     *int64 `json:"weights"`
	KVCache     *int64 `json:"kv_cache"`
	Activations *int64 `json:"activations"`
	Gradients   *int64 `json:"gradients"`
	Optimizer   *int64 `json:"optimizer"`
	Overhead    *int64 `json:"overhead"`
	Total       *int64 `json:"total"`
	// Host is what training keeps in host memory for this GPU instead
	// (offloaded or paged states); not part of Total.
	Host int64 `json:"host,omitempty"`
}

// New is the report of the estimate for the target's own layout, or placed on
// GPUs of kind g when g is not nil.
func New(e *estimator.Estimation, g *estimator.GPU) Report {
	t, m := e.Target(), e.Model()
	r := Report{
		Target:              t.Name,
		Method:              e.Method(),
		Workload:            e.Workload(),
		Model:               t.Model.String(),
		Precision:           e.Precision(),
		Context:             e.Context(),
		Batch:               e.Batch(),
		Parameters:          m.Parameters,
		ParametersActive:    m.ActiveParameters,
		ParametersVision:    m.VisionParameters,
		ParametersNextToken: m.NextTokenParameters,
		Engine:              e.Engine(),
		Assumptions:         e.Assumptions(g),
		Warnings:            e.Warnings(),
		UnfitReason:         "",
	}
	if e.Workload() == estimator.Inference {
		r.KVCacheDType = e.KVCacheDType()
	}
	if kv, ok := e.KVCacheBytesPerToken(); ok {
		r.KVCacheBytesPerToken = &kv
	}
	own := e.Requirement()
	need, layout := own.Components, own.Layout
	engineFigures := false
	if g != nil {
		gpu := *g
		fit := e.ForGPU(gpu)
		r.GPU = &gpu
		r.GPUsRequired = &fit.GPUsRequired
		r.UnfitReason = fit.UnfitReason
		r.ReplicasPerGPU = fit.Replicas
		r.Chosen = fit.Chosen
		need, layout = fit.PerGPU, fit.Layout
		switch {
		case fit.GPUsRequired > 0 && e.Serves():
			engineFigures = r.setEngineFigures(e, fit.Layout, gpu)
		case r.Method != estimator.Detailed || r.KVCacheBytesPerToken == nil:
			// Unknown: left null.
		case fit.GPUsRequired > 0:
			r.MaxBatch = ptr(e.MaxBatch(fit.Usable, fit.GPUsRequired))
			r.MaxContext = ptr(e.MaxContext(fit.Usable, fit.GPUsRequired))
		default:
			r.MaxBatch, r.MaxContext = ptr(0), ptr(0)
		}
	}
	r.GPUs, r.Layout = layout.GPUs(), layout
	r.PerGPUBytes = reportBytes(need)
	if engineFigures {
		r.engineOverhead(e, need.Overhead)
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	if r.Chosen == nil {
		r.Chosen = []string{}
	}
	return r
}

// setEngineFigures fills the serving engine's figures on idle GPUs like g:
// its KV cache tokens and concurrency, the sequences of the target's context
// that fit in them, and the longest context one request can reach. It
// reports whether the engine's accounting applied.
func (r *Report) setEngineFigures(e *estimator.Estimation, l estimator.Layout, g estimator.GPU) bool {
	res, err := e.ServingEngine(l, estimator.IdleGPU(g))
	if err != nil {
		return false
	}
	r.KVCacheTokens, r.MaxConcurrency = res.KVCacheTokens, res.MaxConcurrency
	r.Assumptions.MemoryUtilization = res.MemoryFraction
	maxContext := int(min(res.KVCacheTokens, int64(estimator.MaxContext)))
	if limit := e.Model().MaxPositionEmbeddings; limit > 0 && !e.Target().AllowLongContext {
		maxContext = min(maxContext, limit)
	}
	r.MaxBatch, r.MaxContext = ptr(int(res.MaxConcurrency)), ptr(maxContext)
	r.Warnings = append(r.Warnings, res.Warnings...)
	return true
}

// engineOverhead puts in the assumptions the memory a serving engine keeps
// outside the model, which its accounting counts itself, and says so when
// the target set an overhead of its own: the engine does not use it.
func (r *Report) engineOverhead(e *estimator.Estimation, overhead int64) {
	r.Assumptions.OverheadBytes = overhead
	if own := e.Target().Overhead; own != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("overhead %.2f GiB is not used: engine %s counts its own memory "+
			"outside the model (non-torch memory, CUDA graphs, CUDA context)", float64(*own)/(1<<30), e.Engine()))
	}
}

func reportBytes(c estimator.Components) Bytes {
	r := Bytes{Host: c.Host}
	fields := map[string]**int64{"weights": &r.Weights, "kv_cache": &r.KVCache, "activations": &r.Activations,
		"gradients": &r.Gradients, "optimizer": &r.Optimizer, "overhead": &r.Overhead, "total": &r.Total}
	for _, p := range c.Parts() {
		if p.Known {
			*fields[p.Name] = &p.Bytes
		}
	}
	return r
}

func ptr[T any](v T) *T { return &v }
