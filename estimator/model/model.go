// Package model describes a model as the memory maths needs it: a list of
// decoder layers, each with its attention (full, sliding window, chunked or
// MLA latent) and its linear modules, the embeddings, a vision tower, and
// how the weights are stored. It reads a Hugging Face config.json by the
// conventions of its model_type (one family each, in families.go), the
// safetensors headers beside it, a quantization_config, the embedded
// catalog of presets, a bare parameter count or inline architecture
// fields. A new architecture is a new family here and nothing else.
package model

import "slices"

// Model is a model's shape after the conventions of its model_type have been
// applied: everything the memory model needs, whatever the source (preset,
// bare parameter count, architecture fields or a config.json on disk).
//
// A Model made from a bare parameter count knows only Parameters (and
// ActiveParameters); KnownArchitecture is false and every shape field is 0,
// so the KV cache and activations are reported as unknown, never as zero.
type Model struct {
	// Name is the preset name, the config path, or the parameter count as given.
	Name string
	// ModelType is the Hugging Face model_type ("llama", "gpt2", ...); empty when unknown.
	ModelType string
	// KnownArchitecture reports whether the shape fields below are set.
	KnownArchitecture bool

	// Parameters is the total parameter count; ActiveParameters the count used
	// per token (they differ for mixture-of-experts models).
	Parameters       int64
	ActiveParameters int64
	// EmbeddingParameters counts the input embedding, an untied LM head and
	// learned position embeddings: the tensors QLoRA keeps in 16 bits.
	EmbeddingParameters int64
	// LayerParameters is the parameter count of the largest decoder layer,
	// the unit that ZeRO-3 gathers at a time.
	LayerParameters int64
	// VisionParameters counts a multimodal model's vision tower and
	// projector, included in Parameters.
	VisionParameters int64
	// NextTokenParameters counts DeepSeek-V3's multi-token-prediction
	// layers, which serving engines do not load by default: reported apart
	// and left out of Parameters.
	NextTokenParameters int64

	Layers           int // decoder layers; Decoder describes each
	HiddenSize       int
	Heads            int // attention (query) heads
	KVHeads          int // key/value heads (GQA: fewer than Heads)
	HeadDim          int
	IntermediateSize int // MLP inner width (per expert for MoE)
	VocabSize        int
	// MaxPositionEmbeddings is the longest context the model takes, after
	// rope scaling; 0 when the config does not say.
	MaxPositionEmbeddings int
	Experts               int // the most experts of a layer; 1 for dense models
	ExpertsPerToken       int // 1 for dense models
	GatedMLP              bool
	TiedEmbeddings        bool

	// Decoder describes every decoder layer in order: its attention, which
	// decides its KV cache, and its linear modules, where LoRA adapters
	// attach.
	Decoder []Layer

	// Quantization is the weights' format from the config's
	// quantization_config; nil when the config has none.
	Quantization *Quantization

	// Warnings say what was assumed to read the model (an unsupported
	// model_type read from its safetensors).
	Warnings []string

	// Checkpoint is set when safetensors files lie beside a config.json: the
	// weights' exact bytes and dtypes as stored, not derived by arithmetic.
	Checkpoint *Checkpoint
}

// AttentionKind is how a layer attends, which decides what its KV cache holds.
type AttentionKind string

const (
	// AttentionFull attends to the whole context (MHA, GQA, MQA).
	AttentionFull AttentionKind = "full"
	// AttentionSliding attends to the last Window tokens.
	AttentionSliding AttentionKind = "sliding"
	// AttentionChunked attends within chunks of Window tokens (Llama 4).
	AttentionChunked AttentionKind = "chunked"
	// AttentionLatent caches a compressed latent per token (DeepSeek MLA).
	AttentionLatent AttentionKind = "mla"
)

// Layer is one decoder layer.
type Layer struct {
	Attention AttentionKind
	// Window is the tokens a sliding or chunked layer keeps; 0 otherwise.
	Window int
	// KVHeads and HeadDim size the cached keys and values of a full,
	// sliding or chunked layer.
	KVHeads, HeadDim int
	// Latent is the values an MLA layer caches per token
	// (kv_lora_rank + qk_rope_head_dim), the same on every GPU.
	Latent int
	// Experts and ExpertsPerToken describe a mixture-of-experts MLP; 0 for a
	// dense one.
	Experts, ExpertsPerToken int
	// MLPWidth is the inner width a token passes through: the dense
	// intermediate size, or the routed experts' widths plus the shared ones.
	MLPWidth int
	// Linears lists the layer's linear modules.
	Linears []Linear
	// Parameters counts everything in the layer (linears, biases, norms,
	// sinks); ActiveParameters what one token uses.
	Parameters, ActiveParameters int64
}

// KVValues is the values one token adds to the layer's cache on a GPU that
// holds kvHeads of its heads.
func (l Layer) KVValues(kvHeads float64) float64 {
	if l.Attention == AttentionLatent {
		return float64(l.Latent)
	}
	return 2 * kvHeads * float64(l.HeadDim)
}

// TokensHeld is the tokens of a sequence the layer keeps in its cache.
func (l Layer) TokensHeld(context int) int {
	if l.Window > 0 && l.Window < context {
		return l.Window
	}
	return context
}

// cloneLayers copies the layers so that a caller cannot change a preset.
// Layers of one kind share their Linears, and so do the copies.
func cloneLayers(layers []Layer) []Layer {
	if layers == nil {
		return nil
	}
	out := make([]Layer, len(layers))
	copies := map[*Linear][]Linear{}
	for i, l := range layers {
		if len(l.Linears) > 0 {
			c, ok := copies[&l.Linears[0]]
			if !ok {
				c = slices.Clone(l.Linears)
				copies[&l.Linears[0]] = c
			}
			l.Linears = c
		}
		out[i] = l
	}
	return out
}

// Linear is one linear module of a decoder layer.
type Linear struct {
	Name    string // as in the checkpoint: q_proj, k_proj, ..., c_attn, w1
	In, Out int
	// Count is how many of them a layer holds (the experts of an MoE layer).
	// A module with Count > 1 is a routed expert: a token uses the layer's
	// ExpertsPerToken of them.
	Count int
	// Bias reports whether each of them has a bias vector of Out elements.
	Bias bool
}

// Checkpoint is what safetensors headers (or their index) say about the weights.
type Checkpoint struct {
	// Bytes is the total size of the tensor data.
	Bytes int64
	// Parameters is the element count of every tensor, by safetensors dtype
	// name (BF16, F16, F32, F8_E4M3, I8, U8, ...). It is nil when only an
	// index's total_size is known because some shards are not on disk.
	Parameters map[string]int64
}
