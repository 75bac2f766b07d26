package estimator

import "github.com/vramfit/vramfit/estimator/engine"

// Report is one target's estimate as `vramfit estimate --output json`
// prints it (DESIGN.md § Output), field for field.
type Report struct {
	Target           string   `json:"target"`
	Method           Method   `json:"method"`
	Workload         Workload `json:"workload"`
	Model            string   `json:"model"`
	Precision        string   `json:"precision"`
	KVCacheDType     string   `json:"kv_cache_dtype,omitempty"`
	Context          int      `json:"context"`
	Batch            int      `json:"batch"`
	Parameters       int64    `json:"parameters"`
	ParametersActive int64    `json:"parameters_active"`
	// ParametersVision is a multimodal model's vision tower and projector,
	// included in Parameters; ParametersNextToken DeepSeek-V3's
	// multi-token-prediction layers, left out of it (engines do not load
	// them by default).
	ParametersVision    int64 `json:"parameters_vision,omitempty"`
	ParametersNextToken int64 `json:"parameters_next_token,omitempty"`
	// KVCacheBytesPerToken is null when the architecture is unknown.
	KVCacheBytesPerToken *int64 `json:"kv_cache_bytes_per_token"`
	// PerGPUBytes holds null for each part that could not be estimated.
	PerGPUBytes ReportBytes `json:"per_gpu_bytes"`
	// GPUs is the count PerGPUBytes applies to: GPUsRequired when a GPU is
	// given and the target fits, else the target's own layout's.
	GPUs   int    `json:"gpus"`
	Layout Layout `json:"layout"`
	// Chosen names the layout fields the target leaves open and placement
	// set; empty without a GPU or when nothing fits.
	Chosen []string `json:"chosen"`
	GPU    *GPU     `json:"gpu"`
	// GPUsRequired is null without a GPU, 0 when no count fits.
	GPUsRequired   *int   `json:"gpus_required"`
	UnfitReason    string `json:"unfit_reason"`
	ReplicasPerGPU int    `json:"replicas_per_gpu"`
	MaxBatch       int    `json:"max_batch"`
	MaxContext     int    `json:"max_context"`
	// Engine is the target's engine; for a serving engine on a GPU,
	// KVCacheTokens is the tokens its KV cache holds for one replica and
	// MaxConcurrency the requests of the full context it serves at once, as
	// the engine logs it.
	Engine         Engine      `json:"engine"`
	KVCacheTokens  int64       `json:"kv_cache_tokens"`
	MaxConcurrency float64     `json:"max_concurrency"`
	Assumptions    Assumptions `json:"assumptions"`
	Warnings       []string    `json:"warnings"`
}

// ReportBytes are the per-GPU components; null marks an unknown part.
type ReportBytes struct {
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

// Assumptions are the defaults and settings that change the answer.
type Assumptions struct {
	FlashAttention    bool      `json:"flash_attention"`
	Recompute         Recompute `json:"recompute"`
	SequenceParallel  bool      `json:"sequence_parallel"`
	MemoryUtilization float64   `json:"memory_utilization"`
	OverheadBytes     int64     `json:"overhead_bytes"`
	// MaxBatchedTokens applies to inference only.
	MaxBatchedTokens int `json:"max_batched_tokens,omitempty"`
	// The formats of training's gradients and optimizer states.
	GradientDType  string    `json:"gradient_dtype,omitempty"`
	Optimizer      Optimizer `json:"optimizer,omitempty"`
	OptimizerDType string    `json:"optimizer_dtype,omitempty"`
	// LoRA's rank and adapter parameter count.
	LoRARank       int   `json:"lora_rank,omitempty"`
	LoRAParameters int64 `json:"lora_parameters,omitempty"`
	// The engine's profile (the range of its versions modelled), and
	// training's optimizer-in-backward and offload.
	EngineProfile       string  `json:"engine_profile,omitempty"`
	OptimizerInBackward bool    `json:"optimizer_in_backward,omitempty"`
	Offload             Offload `json:"offload,omitempty"`
	// NVLink is, for a serving engine, whether the tensor-parallel GPUs are
	// taken to share NVLink, and NVLinkFrom why: "target" (its nvlink
	// field), the catalog board of the GPU, or "default" (no GPU, or one
	// the catalog does not know).
	NVLink     *bool  `json:"nvlink,omitempty"`
	NVLinkFrom string `json:"nvlink_from,omitempty"`
}

// Assumptions returns the settings this estimate rests on.
func (e *Estimation) Assumptions() Assumptions {
	in := e.in
	a := Assumptions{
		FlashAttention:    in.flash,
		Recompute:         in.recompute,
		SequenceParallel:  in.sequenceParallel,
		MemoryUtilization: in.util,
		OverheadBytes:     int64(in.overhead),
	}
	if in.method == RuleOfThumb { // the seed's rules add no overhead
		a.OverheadBytes = 0
	}
	if in.workload == Inference {
		a.MaxBatchedTokens = in.maxBatched
		a.EngineProfile = e.target.EngineProfile
		if e.Serves() && a.EngineProfile == "" {
			a.EngineProfile = engine.DefaultProfile(engine.Kind(in.engine))
		}
		if e.Serves() {
			a.setNVLink(e, "")
		}
		return a
	}
	a.EngineProfile = in.trainer.name
	a.OptimizerInBackward, a.Offload = in.optimizerInBackward, in.offload
	a.GradientDType, a.Optimizer, a.OptimizerDType = in.grads.Name, in.optimizer, in.optStates.Name
	if in.workload.adapts() {
		a.LoRARank = DefaultLoRARank
		if e.target.LoRA != nil && e.target.LoRA.Rank > 0 {
			a.LoRARank = e.target.LoRA.Rank
		}
		a.LoRAParameters = int64(in.adapters.params)
	}
	return a
}

// setNVLink records what a serving engine's estimate assumes of NVLink on
// GPUs named gpu ("" for none).
func (a *Assumptions) setNVLink(e *Estimation, gpu string) {
	v, from := e.nvlinkOn(gpu)
	a.NVLink, a.NVLinkFrom = &v, from
}

// Report is the estimate for the target's own layout, or placed on GPUs of
// kind g when g is not nil.
func (e *Estimation) Report(g *GPU) Report {
	r := Report{
		Target:              e.target.Name,
		Method:              e.in.method,
		Workload:            e.in.workload,
		Model:               e.target.Model.String(),
		Precision:           e.in.weights.Name,
		Context:             e.in.context,
		Batch:               e.in.batch,
		Parameters:          e.model.Parameters,
		ParametersActive:    e.model.ActiveParameters,
		ParametersVision:    e.model.VisionParameters,
		ParametersNextToken: e.model.NextTokenParameters,
		Engine:              e.in.engine,
		Assumptions:         e.Assumptions(),
		Warnings:            e.Warnings(),
		UnfitReason:         "",
	}
	if e.in.workload == Inference {
		r.KVCacheDType = e.in.kv.Name
	}
	if kv, ok := e.KVCacheBytesPerToken(); ok {
		r.KVCacheBytesPerToken = &kv
	}
	need, layout := e.ownNeed, e.own
	if g != nil {
		gpu := *g
		fit := e.ForGPU(gpu)
		r.GPU = &gpu
		if e.Serves() {
			r.Assumptions.setNVLink(e, gpu.Name)
		}
		r.GPUsRequired = &fit.GPUsRequired
		r.UnfitReason = fit.UnfitReason
		r.ReplicasPerGPU = fit.Replicas
		r.Chosen = fit.Chosen
		need, layout = fit.PerGPU, fit.Layout
		switch {
		case fit.GPUsRequired > 0 && e.Serves():
			r.setEngineFigures(e, fit.Layout, gpu)
		case fit.GPUsRequired > 0:
			r.MaxBatch = e.MaxBatch(fit.Usable, fit.GPUsRequired)
			r.MaxContext = e.MaxContext(fit.Usable, fit.GPUsRequired)
		}
	}
	r.GPUs, r.Layout = layout.GPUs(), layout
	r.PerGPUBytes = reportBytes(need)
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
// that fit in them, and the longest context one request can reach.
func (r *Report) setEngineFigures(e *Estimation, l Layout, g GPU) {
	res, err := e.ServingEngine(l, IdleGPU(g))
	if err != nil {
		return
	}
	r.KVCacheTokens, r.MaxConcurrency = res.KVCacheTokens, res.MaxConcurrency
	r.Assumptions.MemoryUtilization = res.MemoryFraction
	r.MaxBatch = int(res.MaxConcurrency)
	r.MaxContext = int(min(res.KVCacheTokens, int64(MaxContext)))
	if limit := e.model.MaxPositionEmbeddings; limit > 0 && !e.target.AllowLongContext {
		r.MaxContext = min(r.MaxContext, limit)
	}
	r.Warnings = append(r.Warnings, res.Warnings...)
}

func reportBytes(c Components) ReportBytes {
	r := ReportBytes{Host: c.Host}
	fields := map[string]**int64{"weights": &r.Weights, "kv_cache": &r.KVCache, "activations": &r.Activations,
		"gradients": &r.Gradients, "optimizer": &r.Optimizer, "overhead": &r.Overhead, "total": &r.Total}
	for _, p := range c.Parts() {
		if p.Known {
			*fields[p.Name] = &p.Bytes
		}
	}
	return r
}
