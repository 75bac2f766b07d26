package estimator

import "fmt"

// share is a per-GPU need in bytes, before rounding.
type share struct {
	weights, kv, activations, gradients, optimizer, overhead float64
	unknown                                                  []string
}

// components is the per-GPU need of the target on layout l with the given
// batch and context (the inverse questions vary those two).
func (e *Estimation) components(l Layout, batch, context int) Components {
	var s share
	if e.in.method == RuleOfThumb {
		s = e.ruleOfThumbShare(l)
	} else {
		s = e.detailedShare(l, batch, context)
	}
	c := Components{
		Weights:     ceilBytes(s.weights),
		KVCache:     ceilBytes(s.kv),
		Activations: ceilBytes(s.activations),
		Gradients:   ceilBytes(s.gradients),
		Optimizer:   ceilBytes(s.optimizer),
		Overhead:    ceilBytes(s.overhead),
		Unknown:     s.unknown,
	}
	c.Total = c.Weights + c.KVCache + c.Activations + c.Gradients + c.Optimizer + c.Overhead
	return c
}

// detailedShare is the component model of docs/estimator.md.
func (e *Estimation) detailedShare(l Layout, batch, context int) share {
	s := share{overhead: e.in.overhead}
	m := e.model
	if !m.KnownArchitecture {
		s.unknown = []string{"activations"}
		if e.in.workload == Inference {
			s.unknown = []string{"kv_cache", "activations"}
		}
	}
	switch e.in.workload {
	case Inference:
		s.weights = e.frozenWeights(l)
		if m.KnownArchitecture {
			s.kv = e.kvCache(l, batch, context)
			s.activations = e.inferenceWorkspace(l, batch, context)
		}
	case Training:
		st := e.modelStates(l)
		s.weights, s.gradients, s.optimizer = st.weights, st.gradients, st.optimizer
		if m.KnownArchitecture {
			s.activations = e.trainingActivations(l, batch, context)
		}
	case LoRAWork, QLoRAWork:
		st := e.adapterStates(l)
		s.weights = e.frozenShard(l) + st.weights
		s.gradients, s.optimizer = st.gradients, st.optimizer
		if m.KnownArchitecture {
			s.activations = e.trainingActivations(l, batch, context)
		}
	default:
		panic(unmodelledWorkload(e.in.workload))
	}
	return s
}

// unmodelledWorkload is the panic message of a workload that validation
// accepted but the memory model has no case for: a bug of this package.
func unmodelledWorkload(w Workload) string {
	return fmt.Sprintf("estimator: workload %q passed validation but has no memory model", w)
}

// frozenShard is the frozen base weights of lora and qlora on one GPU of
// layout l. ZeRO-3 (FSDP) shards them and, as for full training, gathers one
// layer at a time: the largest, in the frozen weights' own format (averaged
// over the layout's mix of quantised and 16-bit tensors).
func (e *Estimation) frozenShard(l Layout) float64 {
	w := e.frozenWeights(l)
	shard := zeroShard(l, 3)
	n := e.paramSplit(l).total()
	if shard == 1 || n == 0 {
		return w
	}
	perParam := w / n
	return w/shard + perParam*float64(largestLayer(e.model))/float64(l.TensorParallel)
}

// zeroShard is the divisor ZeRO applies to a part that it shards from stage
// `from` on: the data-parallel degree, or 1.
func zeroShard(l Layout, from int) float64 {
	if l.ZeROStage >= from && l.DataParallel > 1 {
		return float64(l.DataParallel)
	}
	return 1
}
