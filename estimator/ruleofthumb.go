package estimator

import (
	"fmt"
	"math"
	"math/big"
)

// The seed article's rules, reproduced exactly:
//
//	A: training model state = (param bytes + grad bytes + 12) × N
//	B: training GPUs ≈ ceil(params in billions × 18 × 1.25 / GPU GB)
//	C: inference ≈ N × bytes per parameter; inference GPUs ≈ training GPUs / 8
//
// GPU GB is the GPU's memory in SI gigabytes (1e9 bytes), the same unit as
// params in billions × bytes. docs/estimator.md says where these rules
// depart from the detailed model.
const (
	seedAdamBytes       = 12 // rule A: fp32 master weights, momentum and variance
	seedBytesPerParam   = 18 // rule B
	seedBufferNum       = 5  // rule B's 1.25 as 5/4
	seedBufferDen       = 4
	seedInferenceShrink = 8 // rule C
)

// ruleOfThumbShare is rule A (training) or C (inference), spread evenly over
// the layout's GPUs.
func (e *Estimation) ruleOfThumbShare(l Layout) share {
	n := float64(e.model.Parameters)
	gpus := float64(l.GPUs())
	switch e.in.workload {
	case Training:
		return share{
			weights:   e.in.weights.bytesFor(n) / gpus,
			gradients: e.in.grads.bytesFor(n) / gpus,
			optimizer: seedAdamBytes * n / gpus,
			unknown:   []string{"activations"},
		}
	case Inference:
		return share{weights: e.in.weights.bytesFor(n) / gpus, unknown: []string{"kv_cache", "activations"}}
	default: // validation refuses the rule-of-thumb method for lora and qlora
		panic(unmodelledWorkload(e.in.workload))
	}
}

// ruleOfThumbGPUs is rule B, and rule C for inference, in exact arithmetic:
// ceil(N × 18 × 5/4 / memory_bytes), then ceil(that / 8) for inference.
func (e *Estimation) ruleOfThumbGPUs(g GPU) int {
	num := new(big.Int).Mul(big.NewInt(e.model.Parameters), big.NewInt(seedBytesPerParam*seedBufferNum))
	den := new(big.Int).Mul(big.NewInt(g.MemoryBytes), big.NewInt(seedBufferDen))
	training := ceilDiv(num, den)
	if e.in.workload == Inference {
		return int(ceilDiv(big.NewInt(training), big.NewInt(seedInferenceShrink)))
	}
	return int(training)
}

func ceilDiv(num, den *big.Int) int64 {
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// ruleOfThumbFit places the target by rules B and C, on the whole memory of
// the GPU as the seed does. For inference it also says how many copies of
// the weights one GPU holds (the seed: a 7 GB INT8 model runs 3 times on a
// 24 GB card).
//
// Rule C divides rule B's count by 8, which holds for weights of up to about
// 2.8 bytes per parameter: for fp32 weights it gives fewer GPUs than the
// weights fill (7B in fp32 on a 24 GB card: 1). There the count is the
// fewest GPUs the weights fit on, so that the count and the fit agree.
func (e *Estimation) ruleOfThumbFit(g GPU) Fit {
	usable := e.Usable(g.MemoryBytes, 0) // the whole GPU: memoryCap is 1
	if usable <= 0 {
		l := Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: 1}
		return Fit{GPU: g, Usable: usable, Layout: l, PerGPU: e.components(l, e.in.batch, e.in.context),
			UnfitReason: fmt.Sprintf("%s offers no usable memory", g.Name)}
	}
	n := max(e.ruleOfThumbGPUs(g), 1)
	if e.in.workload == Inference {
		weights := e.in.weights.bytesFor(float64(e.model.Parameters))
		n = max(n, int(min(math.Ceil(weights/float64(usable)), MaxGPUs+1)))
	}
	if n > MaxGPUs {
		l := Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: MaxGPUs, ZeROStage: 3}
		return Fit{GPU: g, Usable: usable, Layout: l, PerGPU: e.components(l, e.in.batch, e.in.context),
			UnfitReason: fmt.Sprintf("the seed's rule asks for %d GPUs of %s, more than the %d this planner places", n, g.Name, MaxGPUs)}
	}
	l := Layout{TensorParallel: 1, PipelineParallel: 1, DataParallel: n, ZeROStage: 3}
	fit := Fit{GPU: g, Usable: usable, GPUsRequired: n, Layout: l, PerGPU: e.components(l, e.in.batch, e.in.context)}
	if n == 1 && fit.PerGPU.Total > 0 && e.in.workload == Inference {
		fit.Replicas = int(usable / fit.PerGPU.Total)
	}
	return fit
}
