package estimator

import (
	"math"

	"github.com/vramfit/vramfit/estimator/model"
)

// kvCache is the KV cache on one GPU of layout l for batch sequences of
// context tokens: per layer of the most loaded pipeline stage, the values a
// token adds (a key and a value per KV head held, or MLA's latent) times
// the tokens the layer keeps (its window when it has one). With more GPUs
// than KV heads each GPU keeps a copy of one head (vLLM's rule); MLA's
// latent is whole on every GPU.
func (e *Estimation) kvCache(l Layout, batch, context int) float64 {
	return e.sums.kv(l, kvHeadsPerGPU(e.model, l), context) * float64(batch) * e.in.kv.Bits / 8
}

// kvPerToken is the KV cache one token adds on one GPU of layout l while
// the context is shorter than every window.
func (e *Estimation) kvPerToken(l Layout) float64 {
	return e.sums.kv(l, kvHeadsPerGPU(e.model, l), 1) * e.in.kv.Bits / 8
}

// kvHeadsPerGPU is the KV heads one GPU of layout l holds: tensor
// parallelism splits them, and replicates one on each GPU past their count.
func kvHeadsPerGPU(m model.Model, l Layout) float64 {
	return math.Ceil(float64(max(m.KVHeads, 1)) / float64(l.TensorParallel))
}
