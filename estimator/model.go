package estimator

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
	// LayerParameters is the parameter count of one decoder layer, the unit
	// that ZeRO-3 gathers at a time.
	LayerParameters int64

	Layers                int // decoder layers (all of them hold a KV cache)
	HiddenSize            int
	Heads                 int // attention (query) heads
	KVHeads               int // key/value heads (GQA: fewer than Heads)
	HeadDim               int
	IntermediateSize      int // MLP inner width (per expert for MoE)
	VocabSize             int
	MaxPositionEmbeddings int // 0 when the config does not say
	SlidingWindow         int // 0 when attention is global
	Experts               int // 1 for dense models
	ExpertsPerToken       int // 1 for dense models
	GatedMLP              bool
	TiedEmbeddings        bool

	// Linears lists the linear modules of one decoder layer, the places LoRA
	// adapters attach to.
	Linears []Linear

	// Checkpoint is set when safetensors files lie beside a config.json: the
	// weights' exact bytes and dtypes as stored, not derived by arithmetic.
	Checkpoint *Checkpoint
}

// Linear is one linear module of a decoder layer.
type Linear struct {
	Name    string // as in the checkpoint: q_proj, k_proj, ..., c_attn, w1
	In, Out int
	// Count is how many of them a layer holds (the experts of an MoE layer).
	// A module with Count > 1 is an expert: a token uses ExpertsPerToken of them.
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
