package estimator

import (
	"math"
	"math/bits"
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

	// NumLocalExperts and NumExpertsPerTok size mixtral's mixture of experts.
	NumLocalExperts  int `json:"num_local_experts,omitempty" yaml:"num_local_experts,omitempty"`
	NumExpertsPerTok int `json:"num_experts_per_tok,omitempty" yaml:"num_experts_per_tok,omitempty"`

	// GPT-2 names its sizes differently; n_inner null means 4·n_embd.
	NEmbd              int    `json:"n_embd,omitempty" yaml:"n_embd,omitempty"`
	NLayer             int    `json:"n_layer,omitempty" yaml:"n_layer,omitempty"`
	NHead              int    `json:"n_head,omitempty" yaml:"n_head,omitempty"`
	NInner             int    `json:"n_inner,omitempty" yaml:"n_inner,omitempty"`
	NPositions         int    `json:"n_positions,omitempty" yaml:"n_positions,omitempty"`
	ActivationFunction string `json:"activation_function,omitempty" yaml:"activation_function,omitempty"`
}

// maxDimension bounds every size in a config (hidden size, layers, heads,
// vocabulary, positions, experts): far above any published model, and small
// enough for a 32-bit int.
const maxDimension = 1 << 26

// Model applies the model_type's conventions and counts the parameters. name
// becomes Model.Name.
func (a Architecture) Model(name string) (Model, error) {
	if a.ModelType == "" {
		return Model{}, invalidf("model_type is required; supported: %s", supportedModelTypes())
	}
	conv, ok := conventions[a.ModelType]
	if !ok {
		return Model{}, invalidf("model_type %q is not supported; supported: %s", a.ModelType, supportedModelTypes())
	}
	s, err := a.shape(conv)
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
		MaxPositionEmbeddings: s.positions,
		SlidingWindow:         conv.slidingWindow(a),
		Experts:               s.experts,
		ExpertsPerToken:       s.expertsPerToken,
		GatedMLP:              conv.gated,
		TiedEmbeddings:        s.tied,
		Linears:               conv.linears(s),
	}
	if err := m.countParameters(conv); err != nil {
		return Model{}, err
	}
	return m, nil
}

// shape resolves names, aliases and defaults and checks every size.
func (a Architecture) shape(conv convention) (shape, error) {
	var s shape
	var err error
	if conv.gpt2Names {
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
	names := sizeNames(conv)
	s.vocab, s.kvHeads, s.headDim = a.VocabSize, a.NumKeyValueHeads, a.HeadDim
	// Required sizes have a minimum of 1; the others may be left out (0).
	fields := []sizeField{
		{names.hidden, s.hidden, 1}, {names.layers, s.layers, 1}, {names.heads, s.heads, 1},
		{"vocab_size", s.vocab, 1}, {names.inner, s.inner, 1}, {names.positions, s.positions, 0},
		{"num_key_value_heads", s.kvHeads, 0}, {"head_dim", s.headDim, 0},
		{"sliding_window", a.SlidingWindow, 0},
		{"num_local_experts", a.NumLocalExperts, 0}, {"num_experts_per_tok", a.NumExpertsPerTok, 0},
	}
	if conv.gpt2Names {
		fields[4].min = 0 // n_inner null means 4·n_embd
	}
	if conv.learnedPositions {
		fields[5].min = 1
	}
	if a.MaxWindowLayers != nil {
		fields = append(fields, sizeField{"max_window_layers", *a.MaxWindowLayers, 0})
	}
	for _, f := range fields {
		switch {
		case f.value == 0 && f.min > 0:
			return shape{}, invalidf("%s is required for model_type %s: want a positive integer", f.name, a.ModelType)
		case f.value < f.min || f.value > maxDimension:
			return shape{}, invalidf("%s %d: want an integer from %d to %d", f.name, f.value, f.min, maxDimension)
		}
	}

	if conv.gpt2Names {
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
		s.headDim = conv.defaultHeadDim
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

	s.experts, s.expertsPerToken = 1, 1
	if conv.experts {
		if a.NumLocalExperts == 0 || a.NumExpertsPerTok == 0 {
			return shape{}, invalidf("num_local_experts and num_experts_per_tok are required for model_type %s", a.ModelType)
		}
		if a.NumExpertsPerTok > a.NumLocalExperts {
			return shape{}, invalidf("num_experts_per_tok %d exceeds num_local_experts %d", a.NumExpertsPerTok, a.NumLocalExperts)
		}
		s.experts, s.expertsPerToken = a.NumLocalExperts, a.NumExpertsPerTok
	}

	s.tied = conv.tiedByDefault
	if a.TieWordEmbeddings != nil {
		s.tied = *a.TieWordEmbeddings
	}
	s.attentionBias, s.mlpBias = a.AttentionBias, a.MLPBias
	return s, nil
}

// sizeField is one size of a config, its key for error messages and its
// smallest valid value.
type sizeField struct {
	name       string
	value, min int
}

// sizeKeys are the keys a model_type uses for its sizes, for error messages.
type sizeKeys struct{ hidden, layers, heads, inner, positions string }

func sizeNames(conv convention) sizeKeys {
	if conv.gpt2Names {
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

// countParameters fills the parameter counts from the linears, the norms and
// the embeddings:
//
//	N = V·h·(tied ? 1 : 2) + positions·h + L·(Σ linears + 2 norms) + 1 norm
//
// Active parameters count ExpertsPerToken of each expert module.
func (m *Model) countParameters(conv convention) error {
	var c checked
	h, n := int64(m.HiddenSize), int64(1)
	norm := h
	if conv.layerNorm {
		norm = 2 * h
	}
	var layer, activeLayer int64
	for _, l := range m.Linears {
		one := c.mul(int64(l.In), int64(l.Out))
		if l.Bias {
			one = c.add(one, int64(l.Out))
		}
		count, activeCount := int64(l.Count), int64(l.Count)
		if l.Count > 1 {
			activeCount = int64(m.ExpertsPerToken)
		}
		layer = c.add(layer, c.mul(one, count))
		activeLayer = c.add(activeLayer, c.mul(one, activeCount))
	}
	layer = c.add(layer, 2*norm)
	activeLayer = c.add(activeLayer, 2*norm)

	if !m.TiedEmbeddings {
		n = 2
	}
	embedding := c.mul(c.mul(int64(m.VocabSize), h), n)
	if conv.learnedPositions {
		embedding = c.add(embedding, c.mul(int64(m.MaxPositionEmbeddings), h))
	}
	layers := int64(m.Layers)
	total := c.add(c.add(embedding, c.mul(layers, layer)), norm)
	active := c.add(c.add(embedding, c.mul(layers, activeLayer)), norm)
	if c.overflow || total > MaxParameters {
		return invalidf("the architecture has more than 1e15 parameters")
	}
	m.EmbeddingParameters, m.LayerParameters = embedding, layer
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
