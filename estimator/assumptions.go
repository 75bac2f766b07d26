package estimator

import "github.com/vramfit/vramfit/estimator/engine"

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

// Assumptions returns the settings this estimate rests on, on GPUs of kind
// g, or without a GPU when g is nil: a serving engine's NVLink depends on
// the GPU's board.
func (e *Estimation) Assumptions(g *GPU) Assumptions {
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
			gpu := ""
			if g != nil {
				gpu = g.Name
			}
			v, from := e.nvlinkOn(gpu)
			a.NVLink, a.NVLinkFrom = &v, from
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
