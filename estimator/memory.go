package estimator

import "fmt"

// share is a per-GPU need in bytes, before rounding.
type share struct {
	weights, kv, activations, gradients, optimizer, overhead float64
	// host is what training keeps in host memory instead (offloaded or
	// paged states), for this GPU.
	host    float64
	unknown []string
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
		Host:        ceilBytes(s.host),
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
		s.weights, s.gradients, s.optimizer, s.host = st.weights, st.gradients, st.optimizer, st.host
		if m.KnownArchitecture {
			s.gradients, s.activations = e.backwardPeak(l, st.gradients, e.trainingActivationParts(l, batch, context))
		}
	case LoRAWork, QLoRAWork:
		st := e.adapterStates(l)
		frozen, frozenHost := e.frozenShard(l)
		s.weights = frozen + st.weights
		s.gradients, s.optimizer, s.host = st.gradients, st.optimizer, st.host+frozenHost
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
// over the layout's mix of quantised and 16-bit tensors), as many at once as
// the engine prefetches. With the parameters offloaded, host memory holds
// the shard and the GPU only what is gathered.
func (e *Estimation) frozenShard(l Layout) (gpu, host float64) {
	w := e.frozenWeights(l)
	shard := zeroShard(l, 3)
	n := e.paramSplit(l).total()
	offloaded := e.in.offload == OffloadParams
	if (shard == 1 && !offloaded) || n == 0 {
		return w, 0
	}
	perParam := w / n
	gathered := e.in.trainer.gathered * perParam * float64(largestLayer(e.model)) / float64(l.TensorParallel)
	if offloaded {
		return gathered, w / shard * e.in.trainer.hostBuffer
	}
	return w/shard + gathered, 0
}

// zeroShard is the divisor ZeRO applies to a part that it shards from stage
// `from` on: the data-parallel degree, or 1.
func zeroShard(l Layout, from int) float64 {
	if l.ZeROStage >= from && l.DataParallel > 1 {
		return float64(l.DataParallel)
	}
	return 1
}
