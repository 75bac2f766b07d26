package model

import (
	"math"
	"slices"
	"strings"
)

// A family is what a model_type leaves implicit in its config.json, as the
// Hugging Face implementation of that type builds the model: the defaults of
// its config class, the norms, the biases, each layer's attention and MLP,
// and the names of the linear modules.
type family struct {
	// gpt2Names: the config names its sizes n_embd, n_layer, n_head, n_inner
	// and n_positions (hidden_size and the others are accepted as aliases).
	gpt2Names bool
	// layerNorm: every norm is a LayerNorm with a bias (2·hidden parameters);
	// otherwise an RMSNorm or a LayerNorm without bias (hidden parameters).
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
	// latent: every layer caches an MLA latent.
	latent bool
	// defaults are the config class's values for the keys a config omits.
	defaults *Architecture
	// resolve reads the family's own keys (experts, MLA ranks) into the shape.
	resolve func(Architecture, *shape) error
	// attention is layer i's attention when the config has no layer_types.
	attention func(a Architecture, s shape, i int) attention
	// layer builds layer i's modules.
	layer func(a Architecture, s shape, i int) block
	// lmHead reports a bias on the LM head.
	lmHead func(shape) bool
	// nextToken counts DeepSeek-V3's multi-token-prediction layers.
	nextToken func(Architecture, shape) int64
	// text and vision make a multimodal wrapper: the model_type its
	// text_config defaults to, and its vision tower and projector.
	text   string
	vision func(v VisionConfig, a Architecture, text Model) (int64, error)
}

func (f family) normWidth() int64 {
	if f.layerNorm {
		return 2
	}
	return 1
}

func (f family) lmHeadBias(s shape) bool { return f.lmHead != nil && f.lmHead(s) }

// shape is an architecture's sizes once names, aliases and defaults are
// resolved.
type shape struct {
	hidden, layers, heads, kvHeads, headDim, inner, vocab, positions int
	tied, attentionBias, mlpBias, lmHeadBias                         bool

	// Mixture of experts: experts, top-k, each expert's width, the shared
	// experts' total width.
	experts, topK, expertInner, sharedInner int
	// MLA ranks and head sizes.
	qLoraRank, kvLoraRank, ropeDim, nopeDim, vDim int
	// listed is the layers a config names: qwen's mlp_only_layers or
	// llama4's moe_layers (nil when it names none).
	listed map[int]bool
}

// layerSet checks a list of layer indices and makes it a set.
func layerSet(key string, layers []int, count int) (map[int]bool, error) {
	if layers == nil {
		return nil, nil
	}
	set := make(map[int]bool, min(len(layers), count))
	for _, l := range layers {
		if l < 0 || l >= count {
			return nil, invalidf("%s names layer %d: want 0 to %d", key, l, count-1)
		}
		set[l] = true
	}
	return set, nil
}

// attention is one layer's attention kind and window.
type attention struct {
	kind   AttentionKind
	window int
}

// block is one layer's modules before counting.
type block struct {
	linears []Linear
	// other counts the parameters outside the linears: norms, sinks, q/k
	// norms, router biases.
	other int64
	// experts and topK are set on mixture-of-experts layers.
	experts, topK int
	// width is the MLP width a token passes through.
	width int
}

// layer counts the block's parameters and attaches its attention.
func (b block) layer(at attention, s shape) Layer {
	var c checked
	l := Layer{Attention: at.kind, Window: at.window, KVHeads: s.kvHeads, HeadDim: s.headDim,
		Experts: b.experts, ExpertsPerToken: b.topK, MLPWidth: b.width, Linears: b.linears}
	if at.kind == AttentionLatent {
		l.KVHeads, l.HeadDim, l.Latent = 0, 0, s.kvLoraRank+s.ropeDim
	}
	total, active := b.other, b.other
	for _, lin := range b.linears {
		one := c.mul(int64(lin.In), int64(lin.Out))
		if lin.Bias {
			one = c.add(one, int64(lin.Out))
		}
		used := int64(lin.Count)
		if lin.Count > 1 {
			used = int64(b.topK)
		}
		total = c.add(total, c.mul(one, int64(lin.Count)))
		active = c.add(active, c.mul(one, used))
	}
	if c.overflow {
		total, active = math.MaxInt64, math.MaxInt64
	}
	l.Parameters, l.ActiveParameters = total, active
	return l
}

// families holds every supported model_type.
var families = map[string]family{
	// LlamaForCausalLM: RMSNorm, SwiGLU, untied; attention_bias puts biases
	// on q, k, v and o, mlp_bias on gate, up and down.
	"llama": {gated: true, attention: fullAttention, layer: llamaLayer},
	// MistralForCausalLM: the Llama block without biases, with a sliding
	// window on every layer.
	"mistral": {gated: true, attention: windowEverywhere, layer: plainLayer},
	// MixtralForCausalLM: Mistral attention, a router (gate) and experts w1
	// (gate), w3 (up) and w2 (down).
	"mixtral": {gated: true, attention: windowEverywhere, resolve: localExperts, layer: mixtralLayer},
	// Qwen2ForCausalLM: biases on q, k and v; the window applies only where
	// use_sliding_window says so, from max_window_layers on.
	"qwen2": {gated: true, attention: qwenWindow, layer: qwen2Layer},
	// Qwen2MoeForCausalLM: Qwen2 attention; sparse layers route to experts
	// and add a shared expert behind a one-output gate.
	"qwen2_moe": {gated: true, defaults: qwen2MoeDefaults, attention: qwenWindow, resolve: qwenExperts, layer: qwen2MoeLayer},
	// Qwen3ForCausalLM: the Llama block with RMSNorm on each head's queries
	// and keys (q_norm, k_norm of head_dim).
	"qwen3": {gated: true, defaults: qwen3Defaults, attention: qwenWindow, layer: qwen3Layer},
	// Qwen3MoeForCausalLM: Qwen3 attention, routed experts without a shared one.
	"qwen3_moe": {gated: true, defaults: qwen3MoeDefaults, attention: qwenWindow, resolve: qwenExperts, layer: qwen3MoeLayer},
	// GemmaForCausalLM: GeGLU, tied embeddings, head_dim 256 unless the
	// config says otherwise; attention_bias applies to q, k, v and o.
	"gemma": {gated: true, tiedByDefault: true, defaultHeadDim: 256, attention: fullAttention, layer: llamaLayer},
	// Gemma2ForCausalLM: four norms per layer (before and after attention
	// and MLP), sliding window on every other layer from the first.
	"gemma2": {gated: true, tiedByDefault: true, defaultHeadDim: 256, defaults: gemma2Defaults,
		attention: alternating(AttentionSliding), layer: gemma2Layer},
	// Gemma3ForCausalLM: Gemma 2 with q/k norms of head_dim, five sliding
	// layers to one global (sliding_window_pattern 6).
	"gemma3_text": {gated: true, tiedByDefault: true, defaultHeadDim: 256, defaults: gemma3Defaults,
		attention: gemma3Attention, layer: gemma3Layer},
	// Phi3ForCausalLM: fused qkv_proj and gate_up_proj, no biases.
	"phi3": {gated: true, attention: windowEverywhere, layer: phi3Layer},
	// PhiForCausalLM (phi-1, phi-2): LayerNorm, one per layer (attention and
	// MLP in parallel), biases everywhere, a GELU MLP, a bias on the LM head.
	"phi": {layerNorm: true, attention: fullAttention, layer: phiLayer, lmHead: always},
	// PhiMoEForCausalLM: LayerNorm, Mixtral's experts, biases on attention
	// when attention_bias, on the LM head when lm_head_bias.
	"phimoe": {gated: true, layerNorm: true, attention: windowEverywhere, resolve: localExperts,
		layer: phimoeLayer, lmHead: func(s shape) bool { return s.lmHeadBias }},
	// OLMo2ForCausalLM: norms after attention and MLP, and RMSNorm on the
	// whole query and key projections.
	"olmo2": {gated: true, attention: fullAttention, layer: olmo2Layer},
	// GraniteForCausalLM: the Llama block; its multipliers hold no parameters.
	"granite": {gated: true, attention: fullAttention, layer: llamaLayer},
	// CohereForCausalLM: attention and MLP in parallel after one LayerNorm
	// without bias; tied embeddings; use_qk_norm adds per-head norms.
	"cohere": {gated: true, tiedByDefault: true, attention: fullAttention, layer: cohereLayer},
	// GptOssForCausalLM: biases on attention, a sink per head, a router
	// with bias, experts with fused gate_up and biases, window 128 on every
	// other layer.
	"gpt_oss": {gated: true, defaults: gptOssDefaults, attention: alternating(AttentionSliding),
		resolve: localExperts, layer: gptOssLayer},
	// DeepseekV2/V3ForCausalLM: multi-head latent attention; MoE from
	// first_k_dense_replace on, with shared experts.
	"deepseek_v2": {gated: true, latent: true, defaults: deepseekV2Defaults, attention: fullAttention,
		resolve: deepseekShape, layer: deepseekLayer},
	"deepseek_v3": {gated: true, latent: true, defaults: deepseekV3Defaults, attention: fullAttention,
		resolve: deepseekShape, layer: deepseekLayer, nextToken: deepseekNextToken},
	// Kimi K2 is DeepSeek-V3's architecture under its own model_type.
	"kimi_k2": {gated: true, latent: true, defaults: deepseekV3Defaults, attention: fullAttention,
		resolve: deepseekShape, layer: deepseekLayer, nextToken: deepseekNextToken},
	// Llama4ForCausalLM: chunked attention on the layers that use RoPE,
	// MoE layers (routed experts and a shared expert) every
	// interleave_moe_layer_step.
	"llama4_text": {gated: true, defaults: llama4Defaults, attention: llama4Attention,
		resolve: llama4Shape, layer: llama4Layer},
	// GPT2LMHeadModel: LayerNorm, learned positions, biases on every Conv1D,
	// a GELU MLP of n_inner (4·n_embd when null), tied embeddings.
	"gpt2": {gpt2Names: true, layerNorm: true, learnedPositions: true, tiedByDefault: true,
		attention: fullAttention, layer: gpt2Layer},

	// Multimodal wrappers: the language model from text_config, plus the
	// vision tower and projector.
	"gemma3":   {text: "gemma3_text", vision: siglipTower},
	"llama4":   {text: "llama4_text", vision: llama4Tower},
	"mistral3": {text: "mistral", vision: pixtralTower},
}

// supportedModelTypes lists the keys of families for error messages.
func supportedModelTypes() string {
	types := make([]string, 0, len(families))
	for t := range families {
		types = append(types, t)
	}
	slices.Sort(types)
	return strings.Join(types, ", ")
}

func always(shape) bool { return true }

// setDefault gives a key its config class's default when the config omits it.
func setDefault(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

// Attention patterns.

func fullAttention(Architecture, shape, int) attention { return attention{kind: AttentionFull} }

func windowEverywhere(a Architecture, _ shape, _ int) attention {
	return attention{kind: AttentionSliding, window: a.SlidingWindow}
}

// qwen2DefaultMaxWindowLayers is the Qwen config classes' max_window_layers.
const qwen2DefaultMaxWindowLayers = 28

// qwenWindow follows the Qwen configs: the window is used only when
// use_sliding_window is true, and then by layers from max_window_layers on.
func qwenWindow(a Architecture, _ shape, i int) attention {
	from := qwen2DefaultMaxWindowLayers
	if a.MaxWindowLayers != nil {
		from = *a.MaxWindowLayers
	}
	if !a.UseSlidingWindow || i < from {
		return attention{kind: AttentionFull}
	}
	return attention{kind: AttentionSliding, window: a.SlidingWindow}
}

// alternating puts kind on even layers (the first one) and full attention
// on odd ones: gemma-2 and gpt-oss.
func alternating(kind AttentionKind) func(Architecture, shape, int) attention {
	return func(a Architecture, _ shape, i int) attention {
		if i%2 == 0 {
			return attention{kind: kind, window: a.SlidingWindow}
		}
		return attention{kind: AttentionFull}
	}
}

func gemma3Attention(a Architecture, _ shape, i int) attention {
	if (i+1)%a.SlidingWindowPattern == 0 {
		return attention{kind: AttentionFull}
	}
	return attention{kind: AttentionSliding, window: a.SlidingWindow}
}

// llama4Attention: no_rope_layers[i] is 1 where the layer uses RoPE, and
// those layers attend in chunks; every fourth layer is global by default.
func llama4Attention(a Architecture, _ shape, i int) attention {
	rope := (i+1)%4 != 0
	if len(a.NoRopeLayers) > i {
		rope = a.NoRopeLayers[i] != 0
	}
	if !rope {
		return attention{kind: AttentionFull}
	}
	return attention{kind: AttentionChunked, window: a.AttentionChunkSize}
}

// Module builders.

func linear(name string, in, out int, bias bool) Linear {
	return Linear{Name: name, In: in, Out: out, Count: 1, Bias: bias}
}

// qkvo is the attention's four projections; bias says which carry one.
func qkvo(s shape, qkvBias, oBias bool) []Linear {
	return []Linear{
		linear("q_proj", s.hidden, s.heads*s.headDim, qkvBias),
		linear("k_proj", s.hidden, s.kvHeads*s.headDim, qkvBias),
		linear("v_proj", s.hidden, s.kvHeads*s.headDim, qkvBias),
		linear("o_proj", s.heads*s.headDim, s.hidden, oBias),
	}
}

// gatedMLP is gate, up and down projections of width inner, count of them
// (experts), their names prefixed.
func gatedMLP(prefix string, hidden, inner, count int, bias bool) []Linear {
	return []Linear{
		{Name: prefix + "gate_proj", In: hidden, Out: inner, Count: count, Bias: bias},
		{Name: prefix + "up_proj", In: hidden, Out: inner, Count: count, Bias: bias},
		{Name: prefix + "down_proj", In: inner, Out: hidden, Count: count, Bias: bias},
	}
}

// dense is an attention block followed by a gated MLP, with norms per layer.
func dense(s shape, attention []Linear, norms int64, mlpBias bool) block {
	return block{
		linears: append(attention, gatedMLP("", s.hidden, s.inner, 1, mlpBias)...),
		other:   norms, width: s.inner,
	}
}

func llamaLayer(_ Architecture, s shape, _ int) block {
	return dense(s, qkvo(s, s.attentionBias, s.attentionBias), 2*int64(s.hidden), s.mlpBias)
}

func plainLayer(_ Architecture, s shape, _ int) block {
	return dense(s, qkvo(s, false, false), 2*int64(s.hidden), false)
}

func qwen2Layer(_ Architecture, s shape, _ int) block {
	return dense(s, qkvo(s, true, false), 2*int64(s.hidden), false)
}

// perHeadQKNorm is q_norm and k_norm over head_dim (qwen3, gemma3).
func perHeadQKNorm(s shape) int64 { return 2 * int64(s.headDim) }

func qwen3Layer(_ Architecture, s shape, _ int) block {
	b := dense(s, qkvo(s, s.attentionBias, s.attentionBias), 2*int64(s.hidden), false)
	b.other += perHeadQKNorm(s)
	return b
}

func gemma2Layer(_ Architecture, s shape, _ int) block {
	return dense(s, qkvo(s, s.attentionBias, s.attentionBias), 4*int64(s.hidden), false)
}

func gemma3Layer(a Architecture, s shape, i int) block {
	b := gemma2Layer(a, s, i)
	b.other += perHeadQKNorm(s)
	return b
}

// olmo2Layer: q_norm and k_norm span the whole projections.
func olmo2Layer(_ Architecture, s shape, _ int) block {
	b := dense(s, qkvo(s, s.attentionBias, s.attentionBias), 2*int64(s.hidden), false)
	b.other += int64(s.heads+s.kvHeads) * int64(s.headDim)
	return b
}

// cohereLayer: one LayerNorm without bias; use_qk_norm adds a LayerNorm of
// head_dim per query and key head.
func cohereLayer(a Architecture, s shape, _ int) block {
	b := dense(s, qkvo(s, s.attentionBias, s.attentionBias), int64(s.hidden), false)
	if a.UseQKNorm {
		b.other += int64(s.heads+s.kvHeads) * int64(s.headDim)
	}
	return b
}

func phi3Layer(_ Architecture, s shape, _ int) block {
	return block{linears: []Linear{
		linear("qkv_proj", s.hidden, (s.heads+2*s.kvHeads)*s.headDim, false),
		linear("o_proj", s.heads*s.headDim, s.hidden, false),
		linear("gate_up_proj", s.hidden, 2*s.inner, false),
		linear("down_proj", s.inner, s.hidden, false),
	}, other: 2 * int64(s.hidden), width: s.inner}
}

// phiLayer: q, k, v and dense with biases, fc1 and fc2 with biases, one
// LayerNorm; qk_layernorm adds LayerNorms of head_dim on queries and keys.
func phiLayer(a Architecture, s shape, _ int) block {
	att := qkvo(s, true, true)
	att[3].Name = "dense"
	b := block{linears: append(att,
		linear("fc1", s.hidden, s.inner, true),
		linear("fc2", s.inner, s.hidden, true),
	), other: 2 * int64(s.hidden), width: s.inner}
	if a.QKLayernorm {
		b.other += 2 * 2 * int64(s.headDim)
	}
	return b
}

// gpt2Layer names the two c_proj modules by their parent (attn.c_proj,
// mlp.c_proj) so that each name is unambiguous.
func gpt2Layer(_ Architecture, s shape, _ int) block {
	return block{linears: []Linear{
		linear("c_attn", s.hidden, 3*s.hidden, true),
		linear("attn.c_proj", s.hidden, s.hidden, true),
		linear("c_fc", s.hidden, s.inner, true),
		linear("mlp.c_proj", s.inner, s.hidden, true),
	}, other: 4 * int64(s.hidden), width: s.inner}
}

// Mixtures of experts.

// localExperts reads num_local_experts and num_experts_per_tok (gpt-oss
// also writes experts_per_token).
func localExperts(a Architecture, s *shape) error {
	topK, err := alias("num_experts_per_tok", a.NumExpertsPerTok, "experts_per_token", a.ExpertsPerTokenKey)
	if err != nil {
		return err
	}
	if a.NumLocalExperts == 0 || topK == 0 {
		return invalidf("num_local_experts and num_experts_per_tok are required for model_type %s", a.ModelType)
	}
	s.experts, s.topK, s.expertInner = a.NumLocalExperts, topK, s.inner
	s.lmHeadBias = a.LMHeadBias
	return checkTopK(s.topK, s.experts, "num_local_experts")
}

func checkTopK(topK, experts int, expertsKey string) error {
	if topK > experts {
		return invalidf("num_experts_per_tok %d exceeds %s %d", topK, expertsKey, experts)
	}
	return nil
}

func mixtralLayer(_ Architecture, s shape, _ int) block {
	return block{linears: append(qkvo(s, false, false),
		linear("gate", s.hidden, s.experts, false),
		Linear{Name: "w1", In: s.hidden, Out: s.inner, Count: s.experts},
		Linear{Name: "w2", In: s.inner, Out: s.hidden, Count: s.experts},
		Linear{Name: "w3", In: s.hidden, Out: s.inner, Count: s.experts},
	), other: 2 * int64(s.hidden), experts: s.experts, topK: s.topK, width: s.topK * s.inner}
}

func phimoeLayer(a Architecture, s shape, i int) block {
	b := mixtralLayer(a, s, i)
	for j := range 4 {
		b.linears[j].Bias = s.attentionBias
	}
	b.other = 2 * 2 * int64(s.hidden)
	return b
}

// qwenExperts reads the Qwen MoE keys: num_experts, num_experts_per_tok,
// moe_intermediate_size and (qwen2_moe) shared_expert_intermediate_size.
func qwenExperts(a Architecture, s *shape) error {
	s.experts, s.topK, s.expertInner = a.NumExperts, a.NumExpertsPerTok, a.MoeIntermediateSize
	s.sharedInner = a.SharedExpertIntermediateSize
	var err error
	if s.listed, err = layerSet("mlp_only_layers", a.MLPOnlyLayers, s.layers); err != nil {
		return err
	}
	return checkTopK(s.topK, s.experts, "num_experts")
}

// qwenSparse follows Qwen MoE: a layer routes to experts unless it is in
// mlp_only_layers, when it is a multiple of decoder_sparse_step.
func qwenSparse(a Architecture, s shape, i int) bool {
	return s.experts > 0 && s.topK > 0 && !s.listed[i] && (i+1)%a.DecoderSparseStep == 0
}

func qwen2MoeLayer(a Architecture, s shape, i int) block {
	if !qwenSparse(a, s, i) {
		return qwen2Layer(a, s, i)
	}
	return qwenMoE(s, qkvo(s, true, false), 2*int64(s.hidden))
}

func qwen3MoeLayer(a Architecture, s shape, i int) block {
	if !qwenSparse(a, s, i) {
		return qwen3Layer(a, s, i)
	}
	return qwenMoE(s, qkvo(s, s.attentionBias, s.attentionBias), 2*int64(s.hidden)+perHeadQKNorm(s))
}

// qwenMoE is a router, the routed experts and, when sized, a shared expert
// behind a one-output gate.
func qwenMoE(s shape, att []Linear, other int64) block {
	b := block{linears: append(att, linear("gate", s.hidden, s.experts, false)), other: other,
		experts: s.experts, topK: s.topK, width: s.topK*s.expertInner + s.sharedInner}
	b.linears = append(b.linears, gatedMLP("experts.", s.hidden, s.expertInner, s.experts, false)...)
	if s.sharedInner > 0 {
		b.linears = append(b.linears, gatedMLP("shared_expert.", s.hidden, s.sharedInner, 1, false)...)
		b.linears = append(b.linears, linear("shared_expert_gate", s.hidden, 1, false))
	}
	return b
}

// gptOssLayer: attention with biases and one sink per head; a router with
// bias; experts with fused gate_up_proj and biases.
func gptOssLayer(_ Architecture, s shape, _ int) block {
	return block{linears: append(qkvo(s, s.attentionBias, s.attentionBias),
		linear("router", s.hidden, s.experts, true),
		Linear{Name: "experts.gate_up_proj", In: s.hidden, Out: 2 * s.inner, Count: s.experts, Bias: true},
		Linear{Name: "experts.down_proj", In: s.inner, Out: s.hidden, Count: s.experts, Bias: true},
	), other: 2*int64(s.hidden) + int64(s.heads), experts: s.experts, topK: s.topK, width: s.topK * s.inner}
}

// llama4Shape reads the experts and moe_layers.
func llama4Shape(a Architecture, s *shape) error {
	if err := localExperts(a, s); err != nil {
		return err
	}
	var err error
	s.listed, err = layerSet("moe_layers", a.MoeLayers, s.layers)
	return err
}

// llama4Layer: MoE layers hold a router, experts with fused gate_up_proj
// and a shared expert of intermediate_size; the others a dense MLP of
// intermediate_size_mlp. The q/k L2 norm has no weights.
func llama4Layer(a Architecture, s shape, i int) block {
	att := qkvo(s, s.attentionBias, s.attentionBias)
	norms := 2 * int64(s.hidden)
	if !llama4MoELayer(a, s, i) {
		return block{linears: append(att, gatedMLP("", s.hidden, a.IntermediateSizeMLP, 1, false)...),
			other: norms, width: a.IntermediateSizeMLP}
	}
	b := block{linears: append(att,
		linear("router", s.hidden, s.experts, false),
		Linear{Name: "experts.gate_up_proj", In: s.hidden, Out: 2 * s.inner, Count: s.experts},
		Linear{Name: "experts.down_proj", In: s.inner, Out: s.hidden, Count: s.experts},
	), other: norms, experts: s.experts, topK: s.topK, width: (s.topK + 1) * s.inner}
	b.linears = append(b.linears, gatedMLP("shared_expert.", s.hidden, s.inner, 1, false)...)
	return b
}

// llama4MoELayer follows Llama4TextConfig: moe_layers when given, else every
// interleave_moe_layer_step-th layer.
func llama4MoELayer(a Architecture, s shape, i int) bool {
	if s.listed != nil {
		return s.listed[i]
	}
	return (i+1)%a.InterleaveMoeLayerStep == 0
}

// deepseekShape reads the MLA ranks and the MoE keys.
func deepseekShape(a Architecture, s *shape) error {
	if a.KVLoraRank == 0 || a.QKRopeHeadDim == 0 || a.QKNopeHeadDim == 0 || a.VHeadDim == 0 {
		return invalidf("kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim and v_head_dim are required for model_type %s", a.ModelType)
	}
	s.kvLoraRank, s.ropeDim, s.nopeDim, s.vDim = a.KVLoraRank, a.QKRopeHeadDim, a.QKNopeHeadDim, a.VHeadDim
	if a.QLoraRank != nil {
		s.qLoraRank = *a.QLoraRank
	}
	s.headDim = s.nopeDim + s.ropeDim
	if a.NRoutedExperts != nil {
		s.experts = *a.NRoutedExperts
	}
	s.topK, s.expertInner = a.NumExpertsPerTok, a.MoeIntermediateSize
	if a.NSharedExperts != nil {
		s.sharedInner = *a.NSharedExperts * a.MoeIntermediateSize
	}
	if s.experts > 0 && (s.topK == 0 || s.expertInner == 0) {
		return invalidf("num_experts_per_tok and moe_intermediate_size are required with n_routed_experts for model_type %s", a.ModelType)
	}
	return checkTopK(s.topK, s.experts, "n_routed_experts")
}

// deepseekAttention is MLA: queries directly (q_lora_rank null) or through
// a rank-q_lora_rank bottleneck with its norm, a joint KV down-projection
// to the latent and the rope key, its norm, the up-projection to every
// head's key and value, and the output.
func deepseekAttention(s shape) ([]Linear, int64) {
	qk := s.heads * (s.nopeDim + s.ropeDim)
	var out []Linear
	var norms int64
	if s.qLoraRank == 0 {
		out = append(out, linear("q_proj", s.hidden, qk, false))
	} else {
		out = append(out, linear("q_a_proj", s.hidden, s.qLoraRank, s.attentionBias),
			linear("q_b_proj", s.qLoraRank, qk, false))
		norms += int64(s.qLoraRank)
	}
	out = append(out,
		linear("kv_a_proj_with_mqa", s.hidden, s.kvLoraRank+s.ropeDim, s.attentionBias),
		linear("kv_b_proj", s.kvLoraRank, s.heads*(s.nopeDim+s.vDim), false),
		linear("o_proj", s.heads*s.vDim, s.hidden, s.attentionBias),
	)
	return out, norms + int64(s.kvLoraRank)
}

// deepseekMoELayer: routed experts from first_k_dense_replace on, every
// moe_layer_freq layers.
func deepseekMoELayer(a Architecture, s shape, i int) bool {
	return s.experts > 0 && i >= *a.FirstKDenseReplace && i%a.MoeLayerFreq == 0
}

func deepseekLayer(a Architecture, s shape, i int) block {
	att, norms := deepseekAttention(s)
	norms += 2 * int64(s.hidden)
	if !deepseekMoELayer(a, s, i) {
		return block{linears: append(att, gatedMLP("", s.hidden, s.inner, 1, false)...), other: norms, width: s.inner}
	}
	b := block{linears: append(att, linear("gate", s.hidden, s.experts, false)), other: norms,
		experts: s.experts, topK: s.topK, width: s.topK*s.expertInner + s.sharedInner}
	// DeepSeek-V3's router (noaux_tc) keeps a bias per expert for its load
	// balancing; DeepSeek-V2's greedy routers have none.
	if a.ModelType != "deepseek_v2" || a.TopkMethod == "noaux_tc" {
		b.other += int64(s.experts)
	}
	b.linears = append(b.linears, gatedMLP("experts.", s.hidden, s.expertInner, s.experts, false)...)
	if s.sharedInner > 0 {
		b.linears = append(b.linears, gatedMLP("shared_experts.", s.hidden, s.sharedInner, 1, false)...)
	}
	return b
}

// deepseekNextToken counts the multi-token-prediction layers as the
// checkpoint stores them: each a decoder layer, two norms (enorm, hnorm),
// eh_proj (2h → h), and its own embedding, head norm and head.
func deepseekNextToken(a Architecture, s shape) int64 {
	var c checked
	h, v := int64(s.hidden), int64(s.vocab)
	// Every MTP layer has the shape of the first (a layer past
	// first_k_dense_replace).
	l := deepseekLayer(a, s, s.layers).layer(attention{kind: AttentionLatent}, s)
	one := c.add(l.Parameters, c.add(3*h, c.add(c.mul(2*h, h), c.mul(2*v, h))))
	total := c.mul(one, int64(a.NumNextnPredictLayers))
	if c.overflow {
		return math.MaxInt64
	}
	return total
}

// Config class defaults of the newer families, for the keys a config omits.
// q_lora_rank has none here: JSON cannot tell an omitted key from null,
// and null (DeepSeek-V2-Lite) means queries projected directly.
var (
	qwen3Defaults = &Architecture{VocabSize: 151936, HeadDim: 128, MaxPositionEmbeddings: 32768, SlidingWindow: 4096}
	// Qwen3MoeConfig declares no head_dim: its configs all set it.
	qwen3MoeDefaults = &Architecture{VocabSize: 151936, HeadDim: 128, MaxPositionEmbeddings: 32768, SlidingWindow: 4096,
		DecoderSparseStep: 1, MoeIntermediateSize: 768, NumExpertsPerTok: 8, NumExperts: 128}
	qwen2MoeDefaults = &Architecture{VocabSize: 151936, MaxPositionEmbeddings: 32768, SlidingWindow: 4096,
		DecoderSparseStep: 1, MoeIntermediateSize: 1408, SharedExpertIntermediateSize: 5632, NumExpertsPerTok: 4, NumExperts: 60}
	gemma2Defaults = &Architecture{VocabSize: 256000, MaxPositionEmbeddings: 8192, SlidingWindow: 4096}
	gemma3Defaults = &Architecture{VocabSize: 262208, MaxPositionEmbeddings: 131072, SlidingWindow: 4096, SlidingWindowPattern: 6}
	// GptOssConfig's attention_bias defaults to true, and a false in a
	// config cannot be told from a missing key: the biases are always
	// counted, as every released checkpoint has them.
	gptOssDefaults = &Architecture{VocabSize: 201088, HeadDim: 64, MaxPositionEmbeddings: 131072, SlidingWindow: 128,
		NumLocalExperts: 128, NumExpertsPerTok: 4, AttentionBias: true}
	deepseekV2Defaults = &Architecture{VocabSize: 32000, MaxPositionEmbeddings: 2048, MoeIntermediateSize: 1407,
		KVLoraRank: 512, QKRopeHeadDim: 64, QKNopeHeadDim: 128, VHeadDim: 128, MoeLayerFreq: 1,
		FirstKDenseReplace: intValue(0), NRoutedExperts: intValue(64), NSharedExperts: intValue(2)}
	deepseekV3Defaults = &Architecture{VocabSize: 129280, MaxPositionEmbeddings: 4096, MoeIntermediateSize: 2048,
		KVLoraRank: 512, QKRopeHeadDim: 64, QKNopeHeadDim: 128, VHeadDim: 128, MoeLayerFreq: 1, NumExpertsPerTok: 8,
		FirstKDenseReplace: intValue(3), NRoutedExperts: intValue(256), NSharedExperts: intValue(1)}
	llama4Defaults = &Architecture{VocabSize: 202048, HeadDim: 128, MaxPositionEmbeddings: 4096 * 32, IntermediateSizeMLP: 16384,
		NumLocalExperts: 16, NumExpertsPerTok: 1, InterleaveMoeLayerStep: 1, AttentionChunkSize: 8192}
)

func intValue(v int) *int { return &v }

// withDefaults gives the keys a config omits the values of d, its config
// class's defaults.
func (a *Architecture) withDefaults(d *Architecture) {
	if d == nil {
		return
	}
	for _, f := range []struct {
		p *int
		v int
	}{
		{&a.VocabSize, d.VocabSize}, {&a.HeadDim, d.HeadDim}, {&a.MaxPositionEmbeddings, d.MaxPositionEmbeddings},
		{&a.SlidingWindow, d.SlidingWindow}, {&a.SlidingWindowPattern, d.SlidingWindowPattern},
		{&a.AttentionChunkSize, d.AttentionChunkSize}, {&a.NumLocalExperts, d.NumLocalExperts},
		{&a.NumExperts, d.NumExperts}, {&a.MoeIntermediateSize, d.MoeIntermediateSize},
		{&a.SharedExpertIntermediateSize, d.SharedExpertIntermediateSize}, {&a.DecoderSparseStep, d.DecoderSparseStep},
		{&a.MoeLayerFreq, d.MoeLayerFreq}, {&a.InterleaveMoeLayerStep, d.InterleaveMoeLayerStep},
		{&a.IntermediateSizeMLP, d.IntermediateSizeMLP}, {&a.KVLoraRank, d.KVLoraRank},
		{&a.QKRopeHeadDim, d.QKRopeHeadDim}, {&a.QKNopeHeadDim, d.QKNopeHeadDim}, {&a.VHeadDim, d.VHeadDim},
	} {
		setDefault(f.p, f.v)
	}
	// gpt-oss also writes experts_per_token; either key says it.
	if a.ExpertsPerTokenKey == 0 {
		setDefault(&a.NumExpertsPerTok, d.NumExpertsPerTok)
	}
	for _, f := range []struct{ p, v **int }{
		{&a.FirstKDenseReplace, &d.FirstKDenseReplace}, {&a.NRoutedExperts, &d.NRoutedExperts},
		{&a.NSharedExperts, &d.NSharedExperts},
	} {
		if *f.p == nil {
			*f.p = *f.v
		}
	}
	a.AttentionBias = a.AttentionBias || d.AttentionBias
}
