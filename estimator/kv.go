package estimator

import "math"

// kvPerToken is the KV cache of one token on one GPU of layout l: a key and
// a value vector per KV head per layer of the stage,
// 2 · ceil(L/pp) · max(1, k/tp) · head_dim · bytes. With more GPUs than KV
// heads each GPU keeps a copy of one head (vLLM's rule).
func (e *Estimation) kvPerToken(l Layout) float64 {
	m := e.model
	layers := float64(stageLayers(m.Layers, l.PipelineParallel))
	heads := math.Ceil(float64(max(m.KVHeads, 1)) / float64(l.TensorParallel))
	return 2 * layers * heads * float64(m.HeadDim) * e.in.kv.Bits / 8
}

// kvTokens is the tokens a sequence keeps in the cache: its context, or the
// sliding window when that is shorter (Mistral-7B-v0.1: 4096).
func (e *Estimation) kvTokens(context int) int {
	if w := e.model.SlidingWindow; w > 0 && w < context {
		return w
	}
	return context
}
