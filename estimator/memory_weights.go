package estimator

import "math"

// paramSplit is the parameter count one GPU holds on layout l, split into
// the weights of linear layers (what quantisation shrinks) and the rest
// (embeddings, the LM head, norms and biases, which loaders keep in 16 bits).
// Tensor parallelism splits every tensor; pipeline stages take whole layers,
// and the most loaded stage is counted: ceil(L/pp) layers plus the input
// embedding (first stage) or the LM head (last stage).
func (e *Estimation) paramSplit(l Layout) (linear, plain float64) {
	m := e.model
	tp, pp := float64(l.TensorParallel), float64(l.PipelineParallel)
	if !m.KnownArchitecture || m.Layers == 0 {
		return float64(m.Parameters) / (tp * pp), 0
	}
	perLayer := float64(m.LayerParameters)
	linearPerLayer := float64(linearParameters(m))
	if linearPerLayer == 0 || linearPerLayer > perLayer {
		linearPerLayer = perLayer
	}
	layers := float64(stageLayers(m.Layers, l.PipelineParallel))
	embedding := float64(m.EmbeddingParameters)
	if pp > 1 && !m.TiedEmbeddings {
		embedding /= 2 // the input embedding and the LM head are the same size
	}
	// The final norm (and anything else outside the layers and embeddings).
	rest := math.Max(0, float64(m.Parameters)-float64(m.Layers)*perLayer-float64(m.EmbeddingParameters))
	linear = layers * linearPerLayer / tp
	plain = (layers*(perLayer-linearPerLayer) + embedding + rest) / tp
	return linear, plain
}

// linearParameters counts the weights of one layer's linear modules.
func linearParameters(m Model) int64 {
	var n int64
	for _, lin := range m.Linears {
		n += int64(lin.In) * int64(lin.Out) * int64(max(lin.Count, 1))
	}
	return n
}

// stageLayers is the layer count of the most loaded pipeline stage.
func stageLayers(layers, pp int) int {
	return (layers + pp - 1) / pp
}

// frozenWeights is the bytes of weights that are only read (inference, and
// the base model of lora and qlora) on layout l. Formats narrower than 16
// bits quantise the linear layers and keep the rest in 16 bits, except
// llama.cpp's file types, whose bits per weight average over the whole file.
// Weights read from safetensors headers are split in the same proportions.
func (e *Estimation) frozenWeights(l Layout) float64 {
	linear, plain := e.paramSplit(l)
	if e.in.checkpointBytes > 0 {
		return e.in.checkpointBytes * (linear + plain) / float64(e.model.Parameters)
	}
	w := e.in.weights
	if w.quantized() && !w.Whole {
		return w.bytesFor(linear) + 2*plain
	}
	return w.bytesFor(linear + plain)
}
