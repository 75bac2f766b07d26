package estimator

import "github.com/vramfit/vramfit/estimator/model"

// states are the model states on one GPU: weights, gradients and the
// optimizer's states.
type states struct {
	weights, gradients, optimizer float64
}

// optimizerBytesPerParam is the optimizer's memory per trained parameter:
// its states in their format, plus an fp32 master copy of the weights when
// they are trained in a narrower format (mixed precision). AdamW with fp32
// states beside bf16 weights is 4 + 4 + 4 = 12 bytes (ZeRO paper, K = 12);
// in pure fp32 there is no separate master copy: 8.
func (e *Estimation) optimizerBytesPerParam(trained DType) float64 {
	b := float64(e.in.optimizer.states()) * e.in.optStates.Bits / 8
	if trained.Bits < 32 {
		b += 4
	}
	return b
}

// modelStates is full training's weights, gradients and optimizer states on
// one GPU of layout l, sharded by ZeRO (Rajbhandari et al., 2020): stage 1
// shards the optimizer states over the data-parallel GPUs, stage 2 also the
// gradients, stage 3 also the weights. Stage 3 gathers one layer at a time,
// weights and gradients in the weights' format (DeepSpeed's 4·largest_layer
// at 16 bits).
func (e *Estimation) modelStates(l Layout) states {
	n := e.paramSplit(l).total()
	w := e.in.weights
	st := states{
		weights:   w.bytesFor(n) / zeroShard(l, 3),
		gradients: e.in.grads.bytesFor(n) / zeroShard(l, 2),
		optimizer: n * e.optimizerBytesPerParam(w) / zeroShard(l, 1),
	}
	if zeroShard(l, 3) > 1 {
		gathered := w.bytesFor(float64(largestLayer(e.model)) / float64(l.TensorParallel))
		st.weights += gathered
		st.gradients += gathered
	}
	return st
}

// largestLayer is the parameter count of the largest unit ZeRO-3 gathers: a
// decoder layer or the embedding matrix, whichever is larger.
func largestLayer(m model.Model) int64 {
	if !m.KnownArchitecture {
		return 0
	}
	return max(m.LayerParameters, int64(m.VocabSize)*int64(m.HiddenSize))
}
