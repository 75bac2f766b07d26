package model

// multimodal builds a wrapper (gemma3, llama4, mistral3): the language model
// from text_config, which also gives the KV cache, plus the vision tower and
// projector, which count in the weights.
func (a Architecture) multimodal(name string, fam family) (Model, error) {
	if a.TextConfig == nil {
		return Model{}, invalidf("text_config is required for model_type %s", a.ModelType)
	}
	text := *a.TextConfig
	if text.ModelType == "" {
		text.ModelType = fam.text
	}
	if text.ModelType != fam.text {
		return Model{}, invalidf("text_config.model_type %.40q: want %s for model_type %s", text.ModelType, fam.text, a.ModelType)
	}
	m, err := text.textModel(name, families[fam.text])
	if err != nil {
		return Model{}, invalidf("text_config: %w", err)
	}
	var v VisionConfig
	if a.VisionConfig != nil {
		v = *a.VisionConfig
	}
	vision, err := fam.vision(v, a, m)
	if err != nil {
		return Model{}, invalidf("vision_config: %w", err)
	}
	var c checked
	m.VisionParameters = vision
	m.Parameters = c.add(m.Parameters, vision)
	m.ActiveParameters = c.add(m.ActiveParameters, vision)
	if c.overflow || m.Parameters > MaxParameters {
		return Model{}, invalidf("the architecture has more than 1e15 parameters")
	}
	m.ModelType = a.ModelType
	return m, nil
}

// withDefaults gives the sizes the config omits their class's defaults and
// checks them.
func (v VisionConfig) withDefaults(d VisionConfig) (VisionConfig, error) {
	for _, f := range []struct {
		p *int
		v int
	}{
		{&v.HiddenSize, d.HiddenSize}, {&v.IntermediateSize, d.IntermediateSize},
		{&v.NumHiddenLayers, d.NumHiddenLayers}, {&v.ImageSize, d.ImageSize}, {&v.PatchSize, d.PatchSize},
		{&v.NumChannels, 3}, {&v.VisionOutputDim, d.VisionOutputDim},
		{&v.ProjectorInputDim, d.ProjectorInputDim}, {&v.ProjectorOutputDim, d.ProjectorOutputDim},
	} {
		setDefault(f.p, f.v)
	}
	return v, v.check()
}

// towerCount returns a vision tower's count, or an error when it overflowed.
func towerCount(c checked, n int64) (int64, error) {
	if c.overflow {
		return 0, invalidf("the vision tower has more than 2^63 parameters")
	}
	return n, nil
}

// check checks a vision tower's sizes after its defaults.
func (v VisionConfig) check() error {
	for _, f := range []sizeField{
		{"hidden_size", v.HiddenSize, 1}, {"intermediate_size", v.IntermediateSize, 1},
		{"num_hidden_layers", v.NumHiddenLayers, 1}, {"image_size", v.ImageSize, 1},
		{"patch_size", v.PatchSize, 1}, {"num_channels", v.NumChannels, 1},
		{"vision_output_dim", v.VisionOutputDim, 0}, {"projector_input_dim", v.ProjectorInputDim, 0},
		{"projector_output_dim", v.ProjectorOutputDim, 0},
	} {
		if f.value < f.min || f.value > maxDimension {
			return invalidf("%s %d: want an integer from %d to %d", f.name, f.value, f.min, maxDimension)
		}
	}
	if v.PatchSize > v.ImageSize {
		return invalidf("patch_size %d exceeds image_size %d", v.PatchSize, v.ImageSize)
	}
	return nil
}

// encoderLayers counts layers of a ViT encoder: q, k, v and o of hidden
// size, an MLP (gated: three projections, else fc1 and fc2) and two norms,
// with biases (and LayerNorm biases) when biased.
func (v VisionConfig) encoderLayers(c *checked, gated, biased bool) int64 {
	h, i := int64(v.HiddenSize), int64(v.IntermediateSize)
	attn := c.mul(4, c.mul(h, h))
	mlp := c.mul(2, c.mul(h, i))
	norms := 2 * h
	if gated {
		mlp = c.mul(3, c.mul(h, i))
	}
	if biased {
		attn = c.add(attn, 4*h)
		mlp = c.add(mlp, i+h)
		norms *= 2
	}
	return c.mul(int64(v.NumHiddenLayers), c.add(attn, c.add(mlp, norms)))
}

// patches is the patches of one image side squared.
func (v VisionConfig) patches() int64 {
	side := int64(v.ImageSize / v.PatchSize)
	return side * side
}

// siglipTower is Gemma 3's SigLIP encoder (patch convolution with bias,
// learned positions, LayerNorms, biases everywhere, a final LayerNorm, the
// pooling head only when vision_use_head) and its projector: one
// vision × text matrix and an RMSNorm of the vision width.
func siglipTower(v VisionConfig, _ Architecture, text Model) (int64, error) {
	v, err := v.withDefaults(VisionConfig{HiddenSize: 768, IntermediateSize: 3072, NumHiddenLayers: 12, ImageSize: 224, PatchSize: 16})
	if err != nil {
		return 0, err
	}
	var c checked
	h, p := int64(v.HiddenSize), int64(v.PatchSize)
	n := c.add(c.mul(c.mul(int64(v.NumChannels), p*p), h), h) // patch_embedding
	n = c.add(n, c.mul(v.patches(), h))                       // position_embedding
	n = c.add(n, v.encoderLayers(&c, false, true))
	n = c.add(n, 2*h) // post_layernorm
	if v.VisionUseHead == nil || *v.VisionUseHead {
		// probe, in_proj and out_proj with biases, LayerNorm, MLP.
		i := int64(v.IntermediateSize)
		head := c.add(h, c.add(c.mul(4, c.mul(h, h)), 4*h))
		head = c.add(head, c.add(2*h, c.add(c.mul(2, c.mul(h, i)), i+h)))
		n = c.add(n, head)
	}
	n = c.add(n, c.add(c.mul(h, int64(text.HiddenSize)), h)) // projector
	return towerCount(c, n)
}

// pixtralTower is Mistral 3's Pixtral encoder (patch convolution without
// bias, an RMSNorm, gated MLPs, no biases) and its projector: an RMSNorm,
// the patch merger (spatial_merge_size² patches into one) and two linears
// to the text width.
func pixtralTower(v VisionConfig, a Architecture, text Model) (int64, error) {
	v, err := v.withDefaults(VisionConfig{HiddenSize: 1024, IntermediateSize: 4096, NumHiddenLayers: 24, ImageSize: 1024, PatchSize: 16})
	if err != nil {
		return 0, err
	}
	setDefault(&a.SpatialMergeSize, 2)
	if a.SpatialMergeSize > 64 {
		return 0, invalidf("spatial_merge_size %d: want an integer from 1 to 64", a.SpatialMergeSize)
	}
	var c checked
	h, p, t := int64(v.HiddenSize), int64(v.PatchSize), int64(text.HiddenSize)
	merge := int64(a.SpatialMergeSize)
	n := c.mul(c.mul(int64(v.NumChannels), p*p), h) // patch_conv
	n = c.add(n, h)                                 // ln_pre
	n = c.add(n, v.encoderLayers(&c, true, false))
	projector := c.add(h, c.mul(c.mul(h, merge*merge), h)) // norm, patch merger
	projector = c.add(projector, c.add(c.mul(h, t), c.mul(t, t)))
	if a.MultimodalProjectorBias != nil && *a.MultimodalProjectorBias {
		projector = c.add(projector, 2*t)
	}
	n = c.add(n, projector)
	return towerCount(c, n)
}

// llama4Tower is Llama 4's vision encoder: an unfolded patch projection
// without bias, a class embedding, learned positions for the patches and
// the class token, LayerNorms before and after, biased layers, the
// pixel-shuffle adapter (two linears without bias) and the projector to the
// text width.
func llama4Tower(v VisionConfig, _ Architecture, text Model) (int64, error) {
	v, err := v.withDefaults(VisionConfig{HiddenSize: 768, IntermediateSize: 5632, NumHiddenLayers: 34, ImageSize: 448, PatchSize: 14,
		VisionOutputDim: 7680, ProjectorInputDim: 4096, ProjectorOutputDim: 4096})
	if err != nil {
		return 0, err
	}
	var c checked
	h, p := int64(v.HiddenSize), int64(v.PatchSize)
	n := c.mul(c.mul(int64(v.NumChannels), p*p), h) // patch_embedding
	n = c.add(n, h)                                 // class_embedding
	n = c.add(n, c.mul(v.patches()+1, h))           // positional_embedding_vlm
	n = c.add(n, 4*h)                               // layernorm_pre, layernorm_post
	n = c.add(n, v.encoderLayers(&c, false, true))
	n = c.add(n, c.mul(int64(v.IntermediateSize), int64(v.ProjectorInputDim)))    // adapter fc1
	n = c.add(n, c.mul(int64(v.ProjectorOutputDim), int64(v.ProjectorOutputDim))) // adapter fc2
	n = c.add(n, c.mul(int64(v.VisionOutputDim), int64(text.HiddenSize)))         // projector
	return towerCount(c, n)
}
