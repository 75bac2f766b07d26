package estimator

import "math"

// weightSplit is the parameters one GPU holds, by how quantised
// checkpoints store them.
type weightSplit struct {
	// experts are the routed experts' linear weights (mxfp4 quantises only
	// these); linear the decoder layers' other linear weights.
	experts, linear float64
	// plain is the rest: embeddings, the LM head, norms, biases and a vision
	// tower, which loaders keep in 16 bits.
	plain float64
}

func (w weightSplit) total() float64 { return w.experts + w.linear + w.plain }

// paramSplit is the parameters one GPU holds on layout l. Tensor
// parallelism splits every tensor; pipeline stages take whole layers, and
// the most loaded stage is counted: its layers plus the input embedding
// (first stage) or the LM head (last stage).
func (e *Estimation) paramSplit(l Layout) weightSplit {
	m := e.model
	tp, pp := float64(l.TensorParallel), float64(l.PipelineParallel)
	if !m.KnownArchitecture || len(m.Decoder) == 0 {
		return weightSplit{linear: float64(m.Parameters) / (tp * pp)}
	}
	stage, linear, experts := e.sums.heaviest(l)
	w := weightSplit{experts: experts, linear: linear}
	embedding := float64(m.EmbeddingParameters)
	if pp > 1 && !m.TiedEmbeddings {
		embedding /= 2 // the input embedding and the LM head are the same size
	}
	layers := e.sums.params[e.sums.layers()]
	// The final norm (and anything else outside the layers and embeddings).
	rest := math.Max(0, float64(m.Parameters)-layers-float64(m.EmbeddingParameters)-float64(m.VisionParameters))
	w.plain = stage - w.experts - w.linear + embedding + rest + float64(m.VisionParameters)
	w.experts, w.linear, w.plain = w.experts/tp, w.linear/tp, w.plain/tp
	return w
}

// stageLayers is the layer count of the most loaded pipeline stage.
func stageLayers(layers, pp int) int {
	return (layers + pp - 1) / pp
}

// frozenWeights is the bytes of weights that are only read (inference, and
// the base model of lora and qlora) on layout l. Formats narrower than 16
// bits quantise the linear layers (mxfp4 only the experts) and keep the rest
// in 16 bits (for qlora, in the engine's format; under torchtune it
// quantises only the linears that carry an adapter), except llama.cpp's
// file types, whose bits per weight average
// over the whole file. Weights read from safetensors headers are split in
// the same proportions.
func (e *Estimation) frozenWeights(l Layout) float64 {
	s := e.paramSplit(l)
	if e.in.checkpointBytes > 0 {
		return e.in.checkpointBytes * s.total() / float64(e.model.Parameters)
	}
	w := e.in.weights
	switch {
	case e.in.expertsOnly:
		return w.bytesFor(s.experts) + 2*(s.linear+s.plain)
	case w.quantized() && !w.Whole:
		quantised, rest := s.experts+s.linear, 2.0
		if e.in.workload == QLoRAWork {
			if e.in.trainer.quantisesAdaptedOnly {
				quantised *= e.in.adapters.baseShare
			}
			rest = e.in.trainer.qloraRestBytes
		}
		return w.bytesFor(quantised) + rest*(s.total()-quantised)
	}
	return w.bytesFor(s.total())
}
