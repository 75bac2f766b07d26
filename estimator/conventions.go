package estimator

import (
	"slices"
	"strings"
)

// A convention is what a model_type leaves implicit in its config.json, as
// the Hugging Face implementation of that type builds the model: the norms,
// the biases, the MLP, the embeddings and the names of the linear modules.
type convention struct {
	// gpt2Names: the config names its sizes n_embd, n_layer, n_head, n_inner
	// and n_positions (hidden_size and the others are accepted as aliases).
	gpt2Names bool
	// layerNorm: every norm is a LayerNorm with a bias (2·hidden parameters);
	// otherwise an RMSNorm (hidden parameters).
	layerNorm bool
	// learnedPositions: a position embedding table of positions × hidden.
	learnedPositions bool
	// tiedByDefault is tie_word_embeddings when the config does not say.
	tiedByDefault bool
	// defaultHeadDim is head_dim when the config does not say; 0 means
	// hidden_size / num_attention_heads.
	defaultHeadDim int
	// gated: the MLP multiplies a gate by an up projection (SwiGLU, GeGLU).
	gated bool
	// experts: the MLP is a mixture of experts with a router.
	experts bool
	// slidingWindow returns the attention window of every layer, 0 for
	// global attention.
	slidingWindow func(Architecture) int
	// linears lists the linear modules of one decoder layer.
	linears func(shape) []Linear
}

// shape is an architecture's sizes once names, aliases and defaults are
// resolved.
type shape struct {
	hidden, layers, heads, kvHeads, headDim, inner, vocab, positions int
	experts, expertsPerToken                                         int
	tied, attentionBias, mlpBias                                     bool
}

// conventions holds every supported model_type.
var conventions = map[string]convention{
	// LlamaForCausalLM: RMSNorm, SwiGLU, untied; attention_bias puts biases
	// on q, k, v and o, mlp_bias on gate, up and down.
	"llama": {gated: true, slidingWindow: noWindow, linears: denseLinears(attentionBiasAll, mlpBiasFromConfig)},
	// MistralForCausalLM: the Llama block without biases, with a sliding window.
	"mistral": {gated: true, slidingWindow: configWindow, linears: denseLinears(noBias, noBias)},
	// MixtralForCausalLM: Mistral attention, a router (gate) and experts w1
	// (gate), w3 (up) and w2 (down).
	"mixtral": {gated: true, experts: true, slidingWindow: configWindow, linears: mixtralLinears},
	// Qwen2ForCausalLM: the Llama block with biases on q, k and v only; the
	// window applies only where use_sliding_window says so.
	"qwen2": {gated: true, slidingWindow: qwen2Window, linears: denseLinears(attentionBiasQKV, noBias)},
	// GemmaForCausalLM: GeGLU, tied embeddings, head_dim 256 unless the
	// config says otherwise; attention_bias applies to q, k, v and o.
	"gemma": {gated: true, tiedByDefault: true, defaultHeadDim: 256, slidingWindow: noWindow,
		linears: denseLinears(attentionBiasAll, noBias)},
	// Phi3ForCausalLM: fused qkv_proj and gate_up_proj, no biases.
	"phi3": {gated: true, slidingWindow: configWindow, linears: phi3Linears},
	// GPT2LMHeadModel: LayerNorm, learned positions, biases on every Conv1D,
	// a GELU MLP of n_inner (4·n_embd when null), tied embeddings.
	"gpt2": {gpt2Names: true, layerNorm: true, learnedPositions: true, tiedByDefault: true,
		slidingWindow: noWindow, linears: gpt2Linears},
}

// supportedModelTypes lists the keys of conventions for error messages.
func supportedModelTypes() string {
	types := make([]string, 0, len(conventions))
	for t := range conventions {
		types = append(types, t)
	}
	slices.Sort(types)
	return strings.Join(types, ", ")
}

// A biasRule says which projections of a block carry a bias.
type biasRule func(s shape, projection string) bool

func noBias(shape, string) bool { return false }

func attentionBiasAll(s shape, _ string) bool { return s.attentionBias }

func attentionBiasQKV(_ shape, projection string) bool { return projection != "o_proj" }

func mlpBiasFromConfig(s shape, _ string) bool { return s.mlpBias }

// denseLinears builds the Llama-style layer: q, k, v, o projections and a
// gated MLP.
func denseLinears(attention, mlp biasRule) func(shape) []Linear {
	return func(s shape) []Linear {
		linear := func(name string, in, out int, bias biasRule) Linear {
			return Linear{Name: name, In: in, Out: out, Count: 1, Bias: bias(s, name)}
		}
		return []Linear{
			linear("q_proj", s.hidden, s.heads*s.headDim, attention),
			linear("k_proj", s.hidden, s.kvHeads*s.headDim, attention),
			linear("v_proj", s.hidden, s.kvHeads*s.headDim, attention),
			linear("o_proj", s.heads*s.headDim, s.hidden, attention),
			linear("gate_proj", s.hidden, s.inner, mlp),
			linear("up_proj", s.hidden, s.inner, mlp),
			linear("down_proj", s.inner, s.hidden, mlp),
		}
	}
}

func mixtralLinears(s shape) []Linear {
	return []Linear{
		{Name: "q_proj", In: s.hidden, Out: s.heads * s.headDim, Count: 1},
		{Name: "k_proj", In: s.hidden, Out: s.kvHeads * s.headDim, Count: 1},
		{Name: "v_proj", In: s.hidden, Out: s.kvHeads * s.headDim, Count: 1},
		{Name: "o_proj", In: s.heads * s.headDim, Out: s.hidden, Count: 1},
		{Name: "gate", In: s.hidden, Out: s.experts, Count: 1},
		{Name: "w1", In: s.hidden, Out: s.inner, Count: s.experts},
		{Name: "w2", In: s.inner, Out: s.hidden, Count: s.experts},
		{Name: "w3", In: s.hidden, Out: s.inner, Count: s.experts},
	}
}

func phi3Linears(s shape) []Linear {
	return []Linear{
		{Name: "qkv_proj", In: s.hidden, Out: (s.heads + 2*s.kvHeads) * s.headDim, Count: 1},
		{Name: "o_proj", In: s.heads * s.headDim, Out: s.hidden, Count: 1},
		{Name: "gate_up_proj", In: s.hidden, Out: 2 * s.inner, Count: 1},
		{Name: "down_proj", In: s.inner, Out: s.hidden, Count: 1},
	}
}

// gpt2Linears names the two c_proj modules by their parent (attn.c_proj,
// mlp.c_proj) so that each name is unambiguous.
func gpt2Linears(s shape) []Linear {
	return []Linear{
		{Name: "c_attn", In: s.hidden, Out: 3 * s.hidden, Count: 1, Bias: true},
		{Name: "attn.c_proj", In: s.hidden, Out: s.hidden, Count: 1, Bias: true},
		{Name: "c_fc", In: s.hidden, Out: s.inner, Count: 1, Bias: true},
		{Name: "mlp.c_proj", In: s.inner, Out: s.hidden, Count: 1, Bias: true},
	}
}

func noWindow(Architecture) int { return 0 }

func configWindow(a Architecture) int { return a.SlidingWindow }

// qwen2DefaultMaxWindowLayers is Qwen2Config's max_window_layers default.
const qwen2DefaultMaxWindowLayers = 28

// qwen2Window follows Qwen2Config: the window is used only when
// use_sliding_window is true, and then only by layers at or past
// max_window_layers. When some layers attend globally the model is reported
// as global, which never underestimates the KV cache.
func qwen2Window(a Architecture) int {
	if !a.UseSlidingWindow {
		return 0
	}
	fullLayers := qwen2DefaultMaxWindowLayers
	if a.MaxWindowLayers != nil {
		fullLayers = *a.MaxWindowLayers
	}
	if fullLayers > 0 {
		return 0
	}
	return a.SlidingWindow
}
