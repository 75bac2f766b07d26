package estimator

import "math"

// kvCache is the KV cache on one GPU of layout l for batch sequences of
// context tokens: per layer of the most loaded pipeline stage, the values a
// token adds (a key and a value per KV head held, or MLA's latent) times
// the tokens the layer keeps (its window when it has one). With more GPUs
// than KV heads each GPU keeps a copy of one head (vLLM's rule); MLA's
// latent is whole on every GPU.
func (e *Estimation) kvCache(l Layout, batch, context int) float64 {
	kvHeads := kvHeadsPerGPU(e.model, l)
	return e.maxStage(l, func(layer Layer) float64 {
		return layer.kvValues(kvHeads) * float64(layer.tokensHeld(context))
	}) * float64(batch) * e.in.kv.Bits / 8
}

// kvPerToken is the KV cache one token adds on one GPU of layout l while
// the context is shorter than every window.
func (e *Estimation) kvPerToken(l Layout) float64 {
	kvHeads := kvHeadsPerGPU(e.model, l)
	return e.maxStage(l, func(layer Layer) float64 { return layer.kvValues(kvHeads) }) * e.in.kv.Bits / 8
}

// maxStage sums f over the layers of each pipeline stage (ceil(L/pp)
// consecutive layers) and returns the largest sum.
func (e *Estimation) maxStage(l Layout, f func(Layer) float64) float64 {
	layers := e.model.Decoder
	size := stageLayers(len(layers), l.PipelineParallel)
	var most float64
	for start := 0; start < len(layers); start += size {
		var sum float64
		for _, layer := range layers[start:min(start+size, len(layers))] {
			sum += f(layer)
		}
		most = math.Max(most, sum)
	}
	return most
}

// kvHeadsPerGPU is the KV heads one GPU of layout l holds: tensor
// parallelism splits them, and replicates one on each GPU past their count.
func kvHeadsPerGPU(m Model, l Layout) float64 {
	return math.Ceil(float64(max(m.KVHeads, 1)) / float64(l.TensorParallel))
}

// kvTokens is the most tokens of a sequence any layer keeps: the context,
// or the widest window when every layer has a shorter one.
func (e *Estimation) kvTokens(context int) int {
	most := 0
	for _, layer := range e.model.Decoder {
		most = max(most, layer.tokensHeld(context))
	}
	return most
}
