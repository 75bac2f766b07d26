package estimator

import "math"

// kvPerToken is the KV cache of one token on one GPU of layout l: a key and
// a value vector per KV head per layer of the stage,
// 2 · ceil(L/pp) · max(1, k/tp) · head_dim · bytes. With more GPUs than KV
// heads each GPU keeps a copy of one head (vLLM's rule).
func (e *Estimation) kvPerToken(l Layout) float64 {
	m := e.model
	layers := float64(stageLayers(m.Layers, l.PipelineParallel))
	return 2 * layers * kvHeadsPerGPU(m, l) * float64(m.HeadDim) * e.in.kv.Bits / 8
}

// kvHeadsPerGPU is the KV heads one GPU of layout l holds: tensor
// parallelism splits them, and replicates one on each GPU past their count.
func kvHeadsPerGPU(m Model, l Layout) float64 {
	return math.Ceil(float64(max(m.KVHeads, 1)) / float64(l.TensorParallel))
}

// kvTokens is the tokens a sequence keeps in the cache: its context, or the
// sliding window when that is shorter (Mistral-7B-v0.1: 4096).
func (e *Estimation) kvTokens(context int) int {
	if w := e.model.SlidingWindow; w > 0 && w < context {
		return w
	}
	return context
}
