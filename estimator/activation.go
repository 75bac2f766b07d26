package estimator

import "math"

// inferenceWorkspace is the activation memory of a forward pass on one GPU:
// the largest working set of one layer for the tokens an engine runs at
// once (the batch's prompts, at most max_batched_tokens), plus the fp32
// logits that sampling reads for each sequence. Layers run one after another
// and reuse the same buffers, so one layer's set is what counts.
func (e *Estimation) inferenceWorkspace(l Layout, batch, context int) float64 {
	m := e.model
	p := e.in.actBytes
	tp := float64(l.TensorParallel)
	tokens := math.Min(float64(batch)*float64(context), float64(e.in.maxBatched))
	h, d := float64(m.HiddenSize), float64(m.HeadDim)
	qHeads := float64(m.Heads) / tp
	kvHeads := kvHeadsPerGPU(m, l)

	// Attention: the residual and its normed copy, Q, K, V and the output.
	attention := tokens * p * (2*h + 2*qHeads*d + 2*kvHeads*d)
	if e.in.flash {
		attention += 4 * qHeads * tokens // fp32 log-sum-exp per head and token
	} else {
		// The scores and their softmax: every token against its keys.
		attention += 2 * qHeads * tokens * float64(e.sums.longestHeld(context)) * p
	}
	// MLP: the residual, its normed copy, and gate+up+product (gated) or
	// fc1+activation, over the widest layer's experts a token is routed to
	// and its shared experts.
	width := 2.0
	if m.GatedMLP {
		width = 3
	}
	mlp := tokens * p * (2*h + width*float64(e.sums.mlpWidth)/tp)

	logits := float64(batch) * float64(m.VocabSize) * 4
	return math.Max(attention, mlp) + logits
}

// trainingActivations is the activation memory of training on one GPU,
// Korthikanti et al. (2022) generalised to p bytes per element, as in the
// seed's simplified form L·s·b·h·p·[16 + 2/p + (a·s/h)(2 + 1/p)]:
//
//   - per layer, s·b·h·(4p+2) bytes that tensor parallelism leaves whole (the
//     two LayerNorm inputs, the QKV and MLP inputs, two 1-byte dropout
//     masks), plus what the engine's norms keep beyond a LayerNorm's input,
//     and s·b·h·12p it splits; sequence parallelism splits both;
//   - the attention scores a·s²·b·(2p+1) (softmax, its dropout mask and
//     output), split by tensor parallelism; FlashAttention keeps only a fp32
//     log-sum-exp, 4·a·s·b; selective recomputation keeps neither;
//   - full recomputation keeps each layer's input (s·b·h·p) and rebuilds one
//     layer at a time during the backward pass;
//   - plus the logits of the loss, s·b·V/t times the bytes the engine holds
//     per logit (4 in the neutral model: the fp32 logits).
//
// Under 1F1B pipelining the first stage holds L layers' worth whatever the
// number of stages (Korthikanti §4.2.3), so pipeline parallelism does not
// divide this.
func (e *Estimation) trainingActivations(l Layout, batch, context int) float64 {
	a := e.trainingActivationParts(l, batch, context)
	return a.stored + a.logits
}

// activationParts are training's activations on one GPU: what the forward
// pass stores for the backward pass, of which one layer's working set, and
// the loss's logits.
type activationParts struct{ stored, layer, logits float64 }

func (e *Estimation) trainingActivationParts(l Layout, batch, context int) activationParts {
	m := e.model
	p := e.in.actBytes
	t := float64(l.TensorParallel)
	s, b := float64(context), float64(batch)
	h, a := float64(m.HiddenSize), float64(m.Heads)
	sbh := s * b * h

	whole, split := sbh*(4*p+2+e.in.trainer.normBytes), sbh*12*p
	linear := whole + split/t
	if e.in.sequenceParallel {
		linear = (whole + split) / t
	}
	scores := a * s * s * b * (2*p + 1) / t
	if e.in.flash {
		scores = 4 * a * s * b / t
	}
	layers := float64(m.Layers)
	var stored float64
	switch e.in.recompute {
	case RecomputeSelective:
		stored = layers * linear
	case RecomputeFull:
		input := sbh * p
		if e.in.sequenceParallel {
			input /= t
		}
		stored = layers*input + linear + scores
	default:
		stored = layers * (linear + scores)
	}
	logits := e.in.trainer.logitBytes * s * b * float64(m.VocabSize) / t
	return activationParts{stored: stored, layer: linear + scores, logits: logits}
}
