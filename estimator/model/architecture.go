package model

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Architecture holds the fields of a Hugging Face config.json that decide a
// model's memory, named as there; the json and yaml keys are HF's. Fields a
// config leaves out take the defaults of the model_type's HF config class.
type Architecture struct {
	ModelType string `json:"model_type" yaml:"model_type"`

	HiddenSize            int   `json:"hidden_size,omitempty" yaml:"hidden_size,omitempty"`
	IntermediateSize      int   `json:"intermediate_size,omitempty" yaml:"intermediate_size,omitempty"`
	NumHiddenLayers       int   `json:"num_hidden_layers,omitempty" yaml:"num_hidden_layers,omitempty"`
	NumAttentionHeads     int   `json:"num_attention_heads,omitempty" yaml:"num_attention_heads,omitempty"`
	NumKeyValueHeads      int   `json:"num_key_value_heads,omitempty" yaml:"num_key_value_heads,omitempty"`
	HeadDim               int   `json:"head_dim,omitempty" yaml:"head_dim,omitempty"`
	VocabSize             int   `json:"vocab_size,omitempty" yaml:"vocab_size,omitempty"`
	MaxPositionEmbeddings int   `json:"max_position_embeddings,omitempty" yaml:"max_position_embeddings,omitempty"`
	TieWordEmbeddings     *bool `json:"tie_word_embeddings,omitempty" yaml:"tie_word_embeddings,omitempty"`
	AttentionBias         bool  `json:"attention_bias,omitempty" yaml:"attention_bias,omitempty"`
	MLPBias               bool  `json:"mlp_bias,omitempty" yaml:"mlp_bias,omitempty"`
	// HiddenAct (and GPT-2's ActivationFunction) are accepted so that an
	// architecture can be copied from a config.json as it is; the MLP's
	// shape (gated or not) follows from model_type, not from them.
	HiddenAct string `json:"hidden_act,omitempty" yaml:"hidden_act,omitempty"`

	// SlidingWindow is the attention window; null or absent means global
	// attention (never an underestimate of the KV cache).
	SlidingWindow int `json:"sliding_window,omitempty" yaml:"sliding_window,omitempty"`
	// UseSlidingWindow and MaxWindowLayers are qwen2's switches for it.
	UseSlidingWindow bool `json:"use_sliding_window,omitempty" yaml:"use_sliding_window,omitempty"`
	MaxWindowLayers  *int `json:"max_window_layers,omitempty" yaml:"max_window_layers,omitempty"`

	// LayerTypes names each layer's attention ("full_attention",
	// "sliding_attention", "chunked_attention"); when absent the
	// model_type's own pattern applies.
	LayerTypes []string `json:"layer_types,omitempty" yaml:"layer_types,omitempty"`
	// SlidingWindowPattern is gemma-3's period: every sixth layer is global.
	SlidingWindowPattern int `json:"sliding_window_pattern,omitempty" yaml:"sliding_window_pattern,omitempty"`
	// AttentionChunkSize and NoRopeLayers are Llama 4's chunked attention:
	// layers that use RoPE (1 in no_rope_layers) attend within chunks.
	AttentionChunkSize int   `json:"attention_chunk_size,omitempty" yaml:"attention_chunk_size,omitempty"`
	NoRopeLayers       []int `json:"no_rope_layers,omitempty" yaml:"no_rope_layers,omitempty"`
	// UseQKNorm (cohere, llama4) and QKLayernorm (phi) add norms on the
	// queries and keys.
	UseQKNorm   bool `json:"use_qk_norm,omitempty" yaml:"use_qk_norm,omitempty"`
	QKLayernorm bool `json:"qk_layernorm,omitempty" yaml:"qk_layernorm,omitempty"`

	// Mixtures of experts, by each family's names: mixtral, phimoe, llama4
	// and gpt_oss count num_local_experts, qwen num_experts, deepseek
	// n_routed_experts; gpt_oss also writes experts_per_token.
	NumLocalExperts              int    `json:"num_local_experts,omitempty" yaml:"num_local_experts,omitempty"`
	NumExpertsPerTok             int    `json:"num_experts_per_tok,omitempty" yaml:"num_experts_per_tok,omitempty"`
	ExpertsPerTokenKey           int    `json:"experts_per_token,omitempty" yaml:"experts_per_token,omitempty"`
	NumExperts                   int    `json:"num_experts,omitempty" yaml:"num_experts,omitempty"`
	MoeIntermediateSize          int    `json:"moe_intermediate_size,omitempty" yaml:"moe_intermediate_size,omitempty"`
	SharedExpertIntermediateSize int    `json:"shared_expert_intermediate_size,omitempty" yaml:"shared_expert_intermediate_size,omitempty"`
	DecoderSparseStep            int    `json:"decoder_sparse_step,omitempty" yaml:"decoder_sparse_step,omitempty"`
	MLPOnlyLayers                []int  `json:"mlp_only_layers,omitempty" yaml:"mlp_only_layers,omitempty"`
	NRoutedExperts               *int   `json:"n_routed_experts,omitempty" yaml:"n_routed_experts,omitempty"`
	NSharedExperts               *int   `json:"n_shared_experts,omitempty" yaml:"n_shared_experts,omitempty"`
	FirstKDenseReplace           *int   `json:"first_k_dense_replace,omitempty" yaml:"first_k_dense_replace,omitempty"`
	MoeLayerFreq                 int    `json:"moe_layer_freq,omitempty" yaml:"moe_layer_freq,omitempty"`
	TopkMethod                   string `json:"topk_method,omitempty" yaml:"topk_method,omitempty"`
	InterleaveMoeLayerStep       int    `json:"interleave_moe_layer_step,omitempty" yaml:"interleave_moe_layer_step,omitempty"`
	MoeLayers                    []int  `json:"moe_layers,omitempty" yaml:"moe_layers,omitempty"`
	IntermediateSizeMLP          int    `json:"intermediate_size_mlp,omitempty" yaml:"intermediate_size_mlp,omitempty"`

	// Multi-head latent attention (DeepSeek-V2/V3, Kimi): q_lora_rank null
	// projects the queries directly.
	KVLoraRank    int  `json:"kv_lora_rank,omitempty" yaml:"kv_lora_rank,omitempty"`
	QLoraRank     *int `json:"q_lora_rank,omitempty" yaml:"q_lora_rank,omitempty"`
	QKRopeHeadDim int  `json:"qk_rope_head_dim,omitempty" yaml:"qk_rope_head_dim,omitempty"`
	QKNopeHeadDim int  `json:"qk_nope_head_dim,omitempty" yaml:"qk_nope_head_dim,omitempty"`
	VHeadDim      int  `json:"v_head_dim,omitempty" yaml:"v_head_dim,omitempty"`
	// NumNextnPredictLayers is DeepSeek-V3's multi-token-prediction layers.
	NumNextnPredictLayers int `json:"num_nextn_predict_layers,omitempty" yaml:"num_nextn_predict_layers,omitempty"`

	// LMHeadBias is phimoe's bias on the LM head.
	LMHeadBias bool `json:"lm_head_bias,omitempty" yaml:"lm_head_bias,omitempty"`

	// RopeScaling stretches the positions the model takes.
	RopeScaling *RopeScaling `json:"rope_scaling,omitempty" yaml:"rope_scaling,omitempty"`
	// QuantizationConfig says how the checkpoint's weights are stored.
	QuantizationConfig *QuantizationConfig `json:"quantization_config,omitempty" yaml:"quantization_config,omitempty"`

	// Multimodal wrappers (gemma3, llama4, mistral3) nest the language
	// model's keys in text_config and the vision tower's in vision_config.
	TextConfig   *Architecture `json:"text_config,omitempty" yaml:"text_config,omitempty"`
	VisionConfig *VisionConfig `json:"vision_config,omitempty" yaml:"vision_config,omitempty"`
	// SpatialMergeSize and MultimodalProjectorBias shape mistral3's projector.
	SpatialMergeSize        int   `json:"spatial_merge_size,omitempty" yaml:"spatial_merge_size,omitempty"`
	MultimodalProjectorBias *bool `json:"multimodal_projector_bias,omitempty" yaml:"multimodal_projector_bias,omitempty"`

	// GPT-2 names its sizes differently; n_inner null means 4·n_embd.
	NEmbd              int    `json:"n_embd,omitempty" yaml:"n_embd,omitempty"`
	NLayer             int    `json:"n_layer,omitempty" yaml:"n_layer,omitempty"`
	NHead              int    `json:"n_head,omitempty" yaml:"n_head,omitempty"`
	NInner             int    `json:"n_inner,omitempty" yaml:"n_inner,omitempty"`
	NPositions         int    `json:"n_positions,omitempty" yaml:"n_positions,omitempty"`
	ActivationFunction string `json:"activation_function,omitempty" yaml:"activation_function,omitempty"`
}

// RopeScaling is the part of rope_scaling that changes the model's limit.
type RopeScaling struct {
	Type                          string  `json:"type,omitempty" yaml:"type,omitempty"`
	RopeType                      string  `json:"rope_type,omitempty" yaml:"rope_type,omitempty"`
	Factor                        float64 `json:"factor,omitempty" yaml:"factor,omitempty"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty" yaml:"original_max_position_embeddings,omitempty"`
}

// VisionConfig is a multimodal model's vision tower: SigLIP (gemma3),
// Pixtral (mistral3) or Llama 4's encoder.
type VisionConfig struct {
	ModelType         string `json:"model_type,omitempty" yaml:"model_type,omitempty"`
	HiddenSize        int    `json:"hidden_size,omitempty" yaml:"hidden_size,omitempty"`
	IntermediateSize  int    `json:"intermediate_size,omitempty" yaml:"intermediate_size,omitempty"`
	NumHiddenLayers   int    `json:"num_hidden_layers,omitempty" yaml:"num_hidden_layers,omitempty"`
	NumAttentionHeads int    `json:"num_attention_heads,omitempty" yaml:"num_attention_heads,omitempty"`
	ImageSize         int    `json:"image_size,omitempty" yaml:"image_size,omitempty"`
	PatchSize         int    `json:"patch_size,omitempty" yaml:"patch_size,omitempty"`
	NumChannels       int    `json:"num_channels,omitempty" yaml:"num_channels,omitempty"`
	VisionUseHead     *bool  `json:"vision_use_head,omitempty" yaml:"vision_use_head,omitempty"`
	// Llama 4's pixel-shuffle adapter and projector.
	VisionOutputDim    int `json:"vision_output_dim,omitempty" yaml:"vision_output_dim,omitempty"`
	ProjectorInputDim  int `json:"projector_input_dim,omitempty" yaml:"projector_input_dim,omitempty"`
	ProjectorOutputDim int `json:"projector_output_dim,omitempty" yaml:"projector_output_dim,omitempty"`
}

// maxDimension bounds every size in a config (hidden size, layers, heads,
// vocabulary, positions, experts): far above any published model, and small
// enough for a 32-bit int.
const maxDimension = 1 << 26

// maxLayers bounds the decoder layers, each of which the model describes:
// the deepest published models have a few hundred.
const maxLayers = 1 << 14

// Model applies the model_type's conventions and counts the parameters
// layer by layer. name becomes Model.Name.
func (a Architecture) Model(name string) (Model, error) {
	if a.ModelType == "" {
		return Model{}, invalidf("model_type is required; supported: %s", supportedModelTypes())
	}
	fam, ok := families[a.ModelType]
	if !ok {
		return Model{}, modelError{unsupportedModelType(a.ModelType)}
	}
	quant, err := a.QuantizationConfig.resolve()
	if err != nil {
		return Model{}, err
	}
	var m Model
	if fam.vision != nil {
		m, err = a.multimodal(name, fam)
	} else {
		m, err = a.textModel(name, fam)
	}
	if err != nil {
		return Model{}, err
	}
	m.Quantization = quant
	return m, nil
}

// unsupportedModelType is the error for a model_type without a family,
// which a config with safetensors beside it can still be read with.
type unsupportedModelType string

func (u unsupportedModelType) Error() string {
	return fmt.Sprintf("model_type %.64q is not supported; supported: %s", string(u), supportedModelTypes())
}

// fromCheckpoint reads a config of an unsupported model_type whose weights
// lie beside it: the parameters are the tensors' elements, and the KV cache
// assumes every layer attends fully with the standard keys
// (num_key_value_heads, head_dim), which a warning says.
func (a Architecture) fromCheckpoint(name string, c *Checkpoint) (Model, error) {
	s := shape{hidden: a.HiddenSize, layers: a.NumHiddenLayers, heads: a.NumAttentionHeads, kvHeads: a.NumKeyValueHeads, headDim: a.HeadDim}
	for _, f := range []sizeField{
		{"hidden_size", s.hidden, 1}, {"num_hidden_layers", s.layers, 1}, {"num_attention_heads", s.heads, 1},
		{"num_key_value_heads", s.kvHeads, 0}, {"head_dim", s.headDim, 0}, {"max_position_embeddings", a.MaxPositionEmbeddings, 0},
		{"vocab_size", a.VocabSize, 0},
	} {
		if f.value < f.min || f.value > maxDimension {
			return Model{}, invalidf("model_type %.64q with safetensors beside it: %s %d: want an integer from %d to %d",
				a.ModelType, f.name, f.value, f.min, maxDimension)
		}
	}
	if s.layers > maxLayers {
		return Model{}, invalidf("num_hidden_layers %d: want an integer from 1 to %d", s.layers, maxLayers)
	}
	if s.kvHeads == 0 {
		s.kvHeads = s.heads
	}
	if s.kvHeads > s.heads || s.heads%s.kvHeads != 0 {
		return Model{}, invalidf("num_key_value_heads %d must divide num_attention_heads %d", s.kvHeads, s.heads)
	}
	if s.headDim == 0 {
		s.headDim = max(s.hidden/s.heads, 1)
	}
	var ck checked
	var n int64
	for _, elements := range c.Parameters {
		n = ck.add(n, elements)
	}
	if ck.overflow || n <= 0 || n > MaxParameters {
		return Model{}, invalidf("the safetensors beside model_type %.64q hold %d parameters: want 1 to 1e15", a.ModelType, n)
	}
	m := Model{
		Name: name, ModelType: a.ModelType, KnownArchitecture: true,
		Parameters: n, ActiveParameters: n, LayerParameters: n / int64(s.layers),
		Layers: s.layers, HiddenSize: s.hidden, Heads: s.heads, KVHeads: s.kvHeads, HeadDim: s.headDim,
		VocabSize: a.VocabSize, MaxPositionEmbeddings: a.positionLimit(a.MaxPositionEmbeddings),
		Experts: 1, ExpertsPerToken: 1,
		Decoder: slices.Repeat([]Layer{{Attention: AttentionFull, KVHeads: s.kvHeads, HeadDim: s.headDim}}, s.layers),
	}
	m.Warnings = []string{fmt.Sprintf("model_type %.64q is not supported: the weights are the safetensors headers' %d parameters; "+
		"the KV cache assumes %d layers of full attention with %d KV heads of %d values (num_key_value_heads, head_dim)",
		a.ModelType, n, s.layers, s.kvHeads, s.headDim)}
	return m, nil
}

// textModel builds a language model from its own keys.
func (a Architecture) textModel(name string, fam family) (Model, error) {
	a.withDefaults(fam.defaults)
	s, err := a.shape(fam)
	if err != nil {
		return Model{}, err
	}
	attention, err := a.attentionLayout(fam, s)
	if err != nil {
		return Model{}, err
	}
	m := Model{
		Name:                  name,
		ModelType:             a.ModelType,
		KnownArchitecture:     true,
		Layers:                s.layers,
		HiddenSize:            s.hidden,
		Heads:                 s.heads,
		KVHeads:               s.kvHeads,
		HeadDim:               s.headDim,
		IntermediateSize:      s.inner,
		VocabSize:             s.vocab,
		MaxPositionEmbeddings: a.positionLimit(s.positions),
		Experts:               1,
		ExpertsPerToken:       1,
		GatedMLP:              fam.gated,
		TiedEmbeddings:        s.tied,
	}
	m.Decoder = make([]Layer, 0, s.layers)
	var kinds [][]Linear
	for i := range s.layers {
		l := fam.layer(a, s, i).layer(attention[i], s)
		// Layers of one kind share their modules: a model of a hundred
		// layers holds a few lists, not a hundred.
		if k := slices.IndexFunc(kinds, func(k []Linear) bool { return slices.Equal(k, l.Linears) }); k >= 0 {
			l.Linears = kinds[k]
		} else {
			kinds = append(kinds, l.Linears)
		}
		m.Decoder = append(m.Decoder, l)
		if l.Experts > m.Experts {
			m.Experts, m.ExpertsPerToken = l.Experts, l.ExpertsPerToken
		}
	}
	if err := m.countParameters(fam, s); err != nil {
		return Model{}, err
	}
	if fam.nextToken != nil && a.NumNextnPredictLayers > 0 {
		if a.NumNextnPredictLayers > maxDimension {
			return Model{}, invalidf("num_nextn_predict_layers %d: want an integer from 0 to %d", a.NumNextnPredictLayers, maxDimension)
		}
		m.NextTokenParameters = fam.nextToken(a, s)
	}
	return m, nil
}

// positionLimit is the longest context the model takes: rope scaling that
// names its original length stretches that length by its factor (YaRN,
// dynamic NTK); otherwise max_position_embeddings already says it.
func (a Architecture) positionLimit(positions int) int {
	r := a.RopeScaling
	if r == nil || r.Factor <= 1 || r.OriginalMaxPositionEmbeddings <= 0 {
		return positions
	}
	scaled := float64(r.OriginalMaxPositionEmbeddings) * r.Factor
	if scaled > maxDimension {
		scaled = maxDimension
	}
	return max(positions, int(scaled))
}

// shape resolves names, aliases and defaults and checks every size.
func (a Architecture) shape(fam family) (shape, error) {
	var s shape
	var err error
	if fam.gpt2Names {
		if s.hidden, err = alias("n_embd", a.NEmbd, "hidden_size", a.HiddenSize); err != nil {
			return shape{}, err
		}
		if s.layers, err = alias("n_layer", a.NLayer, "num_hidden_layers", a.NumHiddenLayers); err != nil {
			return shape{}, err
		}
		if s.heads, err = alias("n_head", a.NHead, "num_attention_heads", a.NumAttentionHeads); err != nil {
			return shape{}, err
		}
		if s.positions, err = alias("n_positions", a.NPositions, "max_position_embeddings", a.MaxPositionEmbeddings); err != nil {
			return shape{}, err
		}
		s.inner = a.NInner
	} else {
		s.hidden, s.layers, s.heads = a.HiddenSize, a.NumHiddenLayers, a.NumAttentionHeads
		s.positions, s.inner = a.MaxPositionEmbeddings, a.IntermediateSize
	}
	names := sizeNames(fam)
	s.vocab, s.kvHeads, s.headDim = a.VocabSize, a.NumKeyValueHeads, a.HeadDim
	// Required sizes have a minimum of 1; the others may be left out (0).
	fields := []sizeField{
		{names.hidden, s.hidden, 1}, {names.layers, s.layers, 1}, {names.heads, s.heads, 1},
		{"vocab_size", s.vocab, 1}, {names.inner, s.inner, 1}, {names.positions, s.positions, 0},
		{"num_key_value_heads", s.kvHeads, 0}, {"head_dim", s.headDim, 0},
		{"sliding_window", a.SlidingWindow, 0}, {"sliding_window_pattern", a.SlidingWindowPattern, 0},
		{"attention_chunk_size", a.AttentionChunkSize, 0},
		{"num_local_experts", a.NumLocalExperts, 0}, {"num_experts_per_tok", a.NumExpertsPerTok, 0},
		{"experts_per_token", a.ExpertsPerTokenKey, 0}, {"num_experts", a.NumExperts, 0},
		{"moe_intermediate_size", a.MoeIntermediateSize, 0},
		{"shared_expert_intermediate_size", a.SharedExpertIntermediateSize, 0},
		{"decoder_sparse_step", a.DecoderSparseStep, 0}, {"moe_layer_freq", a.MoeLayerFreq, 0},
		{"interleave_moe_layer_step", a.InterleaveMoeLayerStep, 0},
		{"intermediate_size_mlp", a.IntermediateSizeMLP, 0},
		{"kv_lora_rank", a.KVLoraRank, 0}, {"qk_rope_head_dim", a.QKRopeHeadDim, 0},
		{"qk_nope_head_dim", a.QKNopeHeadDim, 0}, {"v_head_dim", a.VHeadDim, 0},
		{"num_nextn_predict_layers", a.NumNextnPredictLayers, 0},
	}
	for _, p := range []struct {
		name  string
		value *int
	}{
		{"max_window_layers", a.MaxWindowLayers}, {"n_routed_experts", a.NRoutedExperts},
		{"n_shared_experts", a.NSharedExperts}, {"first_k_dense_replace", a.FirstKDenseReplace},
		{"q_lora_rank", a.QLoraRank},
	} {
		if p.value != nil {
			fields = append(fields, sizeField{p.name, *p.value, 0})
		}
	}
	if fam.gpt2Names {
		fields[4].min = 0 // n_inner null means 4·n_embd
	}
	if fam.learnedPositions {
		fields[5].min = 1
	}
	for _, f := range fields {
		switch {
		case f.value == 0 && f.min > 0:
			return shape{}, invalidf("%s is required for model_type %s: want a positive integer", f.name, a.ModelType)
		case f.value < f.min || f.value > maxDimension:
			return shape{}, invalidf("%s %d: want an integer from %d to %d", f.name, f.value, f.min, maxDimension)
		}
	}

	if s.layers > maxLayers {
		return shape{}, invalidf("%s %d: want an integer from 1 to %d", names.layers, s.layers, maxLayers)
	}
	if fam.gpt2Names {
		// GPT-2 has no grouped-query attention and no head_dim key.
		s.kvHeads, s.headDim = s.heads, 0
		if s.inner == 0 {
			s.inner = 4 * s.hidden
		}
	}
	if s.kvHeads == 0 {
		s.kvHeads = s.heads
	}
	if s.kvHeads > s.heads || s.heads%s.kvHeads != 0 {
		return shape{}, invalidf("num_key_value_heads %d must divide %s %d", s.kvHeads, names.heads, s.heads)
	}
	if s.headDim == 0 {
		s.headDim = fam.defaultHeadDim
	}
	if s.headDim == 0 {
		if s.hidden%s.heads != 0 {
			return shape{}, invalidf("%s %d is not a multiple of %s %d; set head_dim",
				names.hidden, s.hidden, names.heads, s.heads)
		}
		s.headDim = s.hidden / s.heads
	}
	if int64(s.heads)*int64(s.headDim) > maxDimension {
		return shape{}, invalidf("%s %d × head_dim %d exceeds %d", names.heads, s.heads, s.headDim, maxDimension)
	}
	s.tied = fam.tiedByDefault
	if a.TieWordEmbeddings != nil {
		s.tied = *a.TieWordEmbeddings
	}
	s.attentionBias, s.mlpBias = a.AttentionBias, a.MLPBias
	if fam.resolve != nil {
		if err := fam.resolve(a, &s); err != nil {
			return shape{}, err
		}
	}
	return s, nil
}

// attentionLayout gives each layer's attention: the config's layer_types
// when it has them, else the model_type's pattern. A sliding layer without
// a window attends globally, which never underestimates the KV cache.
func (a Architecture) attentionLayout(fam family, s shape) ([]attention, error) {
	out := make([]attention, s.layers)
	if len(a.LayerTypes) > 0 {
		if len(a.LayerTypes) != s.layers {
			return nil, invalidf("layer_types has %d entries for %d layers; want one per layer", len(a.LayerTypes), s.layers)
		}
		for i, t := range a.LayerTypes {
			switch t {
			case "full_attention":
				out[i] = attention{kind: AttentionFull}
			case "sliding_attention":
				out[i] = attention{kind: AttentionSliding, window: a.SlidingWindow}
			case "chunked_attention":
				out[i] = attention{kind: AttentionChunked, window: a.AttentionChunkSize}
			default:
				return nil, invalidf("layer_types[%d] %.40q: want full_attention, sliding_attention or chunked_attention", i, t)
			}
		}
	} else {
		for i := range out {
			out[i] = fam.attention(a, s, i)
		}
	}
	for i := range out {
		if fam.latent {
			out[i].kind = AttentionLatent
		}
		if out[i].kind != AttentionLatent && out[i].window == 0 {
			out[i].kind = AttentionFull
		}
	}
	return out, nil
}

// sizeField is one size of a config, its key for error messages and its
// smallest valid value.
type sizeField struct {
	name       string
	value, min int
}

// sizeKeys are the keys a model_type uses for its sizes, for error messages.
type sizeKeys struct{ hidden, layers, heads, inner, positions string }

func sizeNames(fam family) sizeKeys {
	if fam.gpt2Names {
		return sizeKeys{"n_embd", "n_layer", "n_head", "n_inner", "n_positions"}
	}
	return sizeKeys{"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings"}
}

// alias returns the value of a key or of its alias (HF's attribute_map), and
// an error when both are set and disagree.
func alias(name string, value int, aliasName string, aliasValue int) (int, error) {
	switch {
	case value == 0:
		return aliasValue, nil
	case aliasValue == 0 || aliasValue == value:
		return value, nil
	default:
		return 0, invalidf("%s %d and %s %d disagree; set one of them", name, value, aliasName, aliasValue)
	}
}

// countParameters adds up the layers, the embeddings and the final norm:
//
//	N = V·h·(tied ? 1 : 2) + positions·h + Σ layers + final norm
//
// Active parameters count ExpertsPerToken of each layer's routed experts.
func (m *Model) countParameters(fam family, s shape) error {
	var c checked
	h := int64(m.HiddenSize)
	norm := h * fam.normWidth()
	n := int64(2)
	if m.TiedEmbeddings {
		n = 1
	}
	embedding := c.mul(c.mul(int64(m.VocabSize), h), n)
	if fam.learnedPositions {
		embedding = c.add(embedding, c.mul(int64(s.positions), h))
	}
	if fam.lmHeadBias(s) {
		embedding = c.add(embedding, int64(m.VocabSize))
	}
	total, active := c.add(embedding, norm), c.add(embedding, norm)
	for _, l := range m.Decoder {
		total, active = c.add(total, l.Parameters), c.add(active, l.ActiveParameters)
		m.LayerParameters = max(m.LayerParameters, l.Parameters)
	}
	if c.overflow || total > MaxParameters {
		return invalidf("the architecture has more than 1e15 parameters")
	}
	m.EmbeddingParameters = embedding
	m.Parameters, m.ActiveParameters = total, active
	return nil
}

// checked does non-negative int64 arithmetic that records an overflow
// instead of wrapping around.
type checked struct{ overflow bool }

func (c *checked) mul(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if a < 0 || b < 0 || hi != 0 || lo > math.MaxInt64 {
		c.overflow = true
		return 0
	}
	return int64(lo)
}

func (c *checked) add(a, b int64) int64 {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		c.overflow = true
		return 0
	}
	return a + b
}
