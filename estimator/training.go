package estimator

import "github.com/vramfit/vramfit/estimator/model"

// states are the model states on one GPU: weights, gradients and the
// optimizer's states, and what of them host memory holds instead.
type states struct {
	weights, gradients, optimizer, host float64
}

// modelStates is full training's weights, gradients and optimizer states on
// one GPU of layout l, sharded by ZeRO (Rajbhandari et al., 2020): stage 1
// shards the optimizer states over the data-parallel GPUs, stage 2 also the
// gradients, stage 3 also the weights. Stage 3 gathers one layer at a time,
// weights and gradients in the weights' format (DeepSpeed's 4·largest_layer
// at 16 bits), as it does when the parameters live in host memory; an
// engine that prefetches the next layer holds its weights too.
func (e *Estimation) modelStates(l Layout) states {
	n := e.paramSplit(l).total()
	w := e.in.weights
	st := e.trainedStates(l, n, largestTensor(e.model, l.TensorParallel), w)
	if zeroShard(l, 3) > 1 || e.in.offload == OffloadParams {
		gathered := w.bytesFor(float64(largestLayer(e.model)) / float64(l.TensorParallel))
		st.weights += e.in.trainer.gathered * gathered
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
