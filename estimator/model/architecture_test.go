package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPresetParameterCounts checks the count derived from each preset's
// config.json against the published count of the real model, to the
// parameter.
func TestPresetParameterCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset         string
		total, active  int64
		source         string
		embedding      int64 // hand-computed: V·h·(tied ? 1 : 2) (+ positions·h)
		layer          int64 // hand-computed from the config, see each comment
		checkLayerSize bool
	}{
		// REFERENCES.md §4 and DESIGN.md (meta-llama/Llama-2-7b-hf).
		// Layer: 4·4096² + 3·4096·11008 + 2·4096 = 202,383,360.
		{preset: "llama-2-7b", total: 6_738_415_616, active: 6_738_415_616, embedding: 2 * 32000 * 4096,
			layer: 202_383_360, checkLayerSize: true},
		// Published unique parameter count of Llama-2-13B; also the BF16
		// parameter count of Llama-2-13B fine-tunes on the Hub
		// (cais/HarmBench-Llama-2-13b-cls: 13,015,864,320).
		{preset: "llama-2-13b", total: 13_015_864_320, active: 13_015_864_320, embedding: 2 * 32000 * 5120},
		// PEFT print_trainable_parameters on Llama-2-70b ("all params:
		// 68,976,648,192"); the Hub's safetensors total, 68,976,653,312, adds
		// 80 × 64 rotary inv_freq buffers, which are not parameters.
		// Layer: 2·8192² + 2·8192·1024 + 3·8192·28672 + 2·8192 = 855,654,400.
		{preset: "llama-2-70b", total: 68_976_648_192, active: 68_976_648_192, embedding: 2 * 32000 * 8192,
			layer: 855_654_400, checkLayerSize: true},
		// DESIGN.md: safetensors metadata of meta-llama/Meta-Llama-3-8B.
		{preset: "llama-3-8b", total: 8_030_261_248, active: 8_030_261_248, embedding: 2 * 128256 * 4096},
		// Safetensors metadata of meta-llama/Meta-Llama-3-70B (also the
		// brief's figure): 70,553,706,496.
		{preset: "llama-3-70b", total: 70_553_706_496, active: 70_553_706_496, embedding: 2 * 128256 * 8192},
		// Hub API record of meta-llama/Llama-3.1-405B: safetensors.total =
		// 405,853,388,800.
		// Layer: 2·16384² + 2·16384·1024 + 3·16384·53248 + 2·16384 = 3,187,703,808.
		{preset: "llama-3.1-405b", total: 405_853_388_800, active: 405_853_388_800, embedding: 2 * 128256 * 16384,
			layer: 3_187_703_808, checkLayerSize: true},
		// DESIGN.md: mistralai/Mistral-7B-v0.1.
		{preset: "mistral-7b", total: 7_241_732_096, active: 7_241_732_096, embedding: 2 * 32000 * 4096},
		// DESIGN.md and REFERENCES.md §4: 46,702,792,704 in total and
		// 12,879,925,248 active (2 of 8 experts).
		// Layer: 2·4096² + 2·4096·1024 + 4096·8 (router) + 8·3·4096·14336 + 2·4096
		// = 1,451,270,144.
		{preset: "mixtral-8x7b", total: 46_702_792_704, active: 12_879_925_248, embedding: 2 * 32000 * 4096,
			layer: 1_451_270_144, checkLayerSize: true},
		// Safetensors metadata of Qwen/Qwen2.5-7B and -Instruct: 7,615,616,512
		// (model card: 7.61B).
		// Layer: 2·3584² + 2·3584·512 + (3584 + 2·512) q/k/v biases
		// + 3·3584·18944 + 2·3584 = 233,057,792.
		{preset: "qwen2.5-7b", total: 7_615_616_512, active: 7_615_616_512, embedding: 2 * 152064 * 3584,
			layer: 233_057_792, checkLayerSize: true},
		// Safetensors weight listing of Qwen/Qwen2.5-72B-Instruct: 963
		// tensors, 72,706,203,648 parameters.
		{preset: "qwen2.5-72b", total: 72_706_203_648, active: 72_706_203_648, embedding: 2 * 152064 * 8192},
		// Safetensors metadata of google/gemma-2b: 2,506,172,416 (tied).
		// Layer: 2·2048·2048 (q, o: 8·256) + 2·2048·256 (k, v) + 3·2048·16384
		// + 2·2048 = 110,104,576.
		{preset: "gemma-2b", total: 2_506_172_416, active: 2_506_172_416, embedding: 256000 * 2048,
			layer: 110_104_576, checkLayerSize: true},
		// Safetensors metadata of google/gemma-7b: 8,537,680,896 (tied,
		// head_dim 256 × 16 heads = 4096 ≠ hidden 3072).
		{preset: "gemma-7b", total: 8_537_680_896, active: 8_537_680_896, embedding: 256000 * 3072},
		// microsoft/Phi-3-mini-4k-instruct: 3,821,079,552 (model.num_parameters()).
		// Layer: 3072·9216 (qkv) + 3072² + 3072·16384 (gate_up) + 8192·3072
		// + 2·3072 = 113,252,352.
		{preset: "phi-3-mini", total: 3_821_079_552, active: 3_821_079_552, embedding: 2 * 32064 * 3072,
			layer: 113_252_352, checkLayerSize: true},
		// REFERENCES.md §4: GPT-2 small, 124,439,808 (tied, learned positions).
		// Layer: (768·2304 + 2304) + (768² + 768) + (768·3072 + 3072)
		// + (3072·768 + 768) + 2·2·768 = 7,087,872.
		{preset: "gpt2", total: 124_439_808, active: 124_439_808, embedding: 50257*768 + 1024*768,
			layer: 7_087_872, checkLayerSize: true},
	}
	for _, tc := range tests {
		t.Run(tc.preset, func(t *testing.T) {
			t.Parallel()
			m, err := LookupPreset(tc.preset)
			require.NoError(t, err)
			require.True(t, m.KnownArchitecture)
			assert.Equal(t, tc.total, m.Parameters, "total parameters")
			assert.Equal(t, tc.active, m.ActiveParameters, "active parameters")
			assert.Equal(t, tc.embedding, m.EmbeddingParameters, "embedding parameters")
			if tc.checkLayerSize {
				assert.Equal(t, tc.layer, m.LayerParameters, "parameters of one layer")
			}
		})
	}
}

// TestPresetBareCounts checks the presets whose architecture is not public.
func TestPresetBareCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset string
		want   int64
	}{
		{"gpt-3-175b", 175_000_000_000}, // Brown et al. 2020, Table 2.1: 175.0B
		{"grok-1", 314_000_000_000},     // xAI's Grok-1 release: 314B
	}
	for _, tc := range tests {
		m, err := LookupPreset(tc.preset)
		require.NoError(t, err)
		assert.False(t, m.KnownArchitecture, tc.preset)
		assert.Equal(t, tc.want, m.Parameters, tc.preset)
		assert.Equal(t, tc.want, m.ActiveParameters, tc.preset)
		assert.Zero(t, m.Layers, tc.preset)
		assert.Nil(t, m.Decoder, tc.preset)
	}
}

// TestPresetKVFields checks what the KV cache depends on against the values
// in each model's config.json.
func TestPresetKVFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset                               string
		layers, heads, kvHeads, headDim      int
		maxPositions, slidingWindow, experts int
		tied                                 bool
	}{
		{"llama-2-7b", 32, 32, 32, 128, 4096, 0, 1, false},
		{"llama-2-13b", 40, 40, 40, 128, 4096, 0, 1, false},
		{"llama-2-70b", 80, 64, 8, 128, 4096, 0, 1, false},
		{"llama-3-8b", 32, 32, 8, 128, 8192, 0, 1, false},
		{"llama-3-70b", 80, 64, 8, 128, 8192, 0, 1, false},
		{"llama-3.1-405b", 126, 128, 8, 128, 131072, 0, 1, false},
		{"mistral-7b", 32, 32, 8, 128, 32768, 4096, 1, false},
		{"mixtral-8x7b", 32, 32, 8, 128, 32768, 0, 8, false}, // "sliding_window": null
		// "use_sliding_window": false: the 131072 window is not used.
		{"qwen2.5-7b", 28, 28, 4, 128, 32768, 0, 1, false},
		{"qwen2.5-72b", 80, 64, 8, 128, 32768, 0, 1, false},
		{"gemma-2b", 18, 8, 1, 256, 8192, 0, 1, true},
		{"gemma-7b", 28, 16, 16, 256, 8192, 0, 1, true},
		{"phi-3-mini", 32, 32, 32, 96, 4096, 2047, 1, false},
		{"gpt2", 12, 12, 12, 64, 1024, 0, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.preset, func(t *testing.T) {
			t.Parallel()
			m, err := LookupPreset(tc.preset)
			require.NoError(t, err)
			assert.Equal(t, tc.layers, m.Layers, "layers")
			assert.Equal(t, tc.heads, m.Heads, "heads")
			assert.Equal(t, tc.kvHeads, m.KVHeads, "kv heads")
			assert.Equal(t, tc.headDim, m.HeadDim, "head_dim")
			assert.Equal(t, tc.maxPositions, m.MaxPositionEmbeddings, "max positions")
			for i, l := range m.Decoder {
				assert.Equal(t, tc.slidingWindow, l.Window, "sliding window of layer %d", i)
			}
			assert.Equal(t, tc.experts, m.Experts, "experts")
			assert.Equal(t, tc.tied, m.TiedEmbeddings, "tied embeddings")
		})
	}
}

// TestLinears checks the modules LoRA attaches to, named as in checkpoints.
func TestLinears(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset string
		want   []Linear
	}{
		{"llama-3-8b", []Linear{
			{Name: "q_proj", In: 4096, Out: 4096, Count: 1},
			{Name: "k_proj", In: 4096, Out: 1024, Count: 1},
			{Name: "v_proj", In: 4096, Out: 1024, Count: 1},
			{Name: "o_proj", In: 4096, Out: 4096, Count: 1},
			{Name: "gate_proj", In: 4096, Out: 14336, Count: 1},
			{Name: "up_proj", In: 4096, Out: 14336, Count: 1},
			{Name: "down_proj", In: 14336, Out: 4096, Count: 1},
		}},
		{"qwen2.5-7b", []Linear{
			{Name: "q_proj", In: 3584, Out: 3584, Count: 1, Bias: true},
			{Name: "k_proj", In: 3584, Out: 512, Count: 1, Bias: true},
			{Name: "v_proj", In: 3584, Out: 512, Count: 1, Bias: true},
			{Name: "o_proj", In: 3584, Out: 3584, Count: 1},
			{Name: "gate_proj", In: 3584, Out: 18944, Count: 1},
			{Name: "up_proj", In: 3584, Out: 18944, Count: 1},
			{Name: "down_proj", In: 18944, Out: 3584, Count: 1},
		}},
		{"gemma-7b", []Linear{ // 16 heads × head_dim 256 = 4096 ≠ hidden 3072
			{Name: "q_proj", In: 3072, Out: 4096, Count: 1},
			{Name: "k_proj", In: 3072, Out: 4096, Count: 1},
			{Name: "v_proj", In: 3072, Out: 4096, Count: 1},
			{Name: "o_proj", In: 4096, Out: 3072, Count: 1},
			{Name: "gate_proj", In: 3072, Out: 24576, Count: 1},
			{Name: "up_proj", In: 3072, Out: 24576, Count: 1},
			{Name: "down_proj", In: 24576, Out: 3072, Count: 1},
		}},
		{"mixtral-8x7b", []Linear{
			{Name: "q_proj", In: 4096, Out: 4096, Count: 1},
			{Name: "k_proj", In: 4096, Out: 1024, Count: 1},
			{Name: "v_proj", In: 4096, Out: 1024, Count: 1},
			{Name: "o_proj", In: 4096, Out: 4096, Count: 1},
			{Name: "gate", In: 4096, Out: 8, Count: 1},
			{Name: "w1", In: 4096, Out: 14336, Count: 8},
			{Name: "w2", In: 14336, Out: 4096, Count: 8},
			{Name: "w3", In: 4096, Out: 14336, Count: 8},
		}},
		{"phi-3-mini", []Linear{
			{Name: "qkv_proj", In: 3072, Out: 9216, Count: 1},
			{Name: "o_proj", In: 3072, Out: 3072, Count: 1},
			{Name: "gate_up_proj", In: 3072, Out: 16384, Count: 1},
			{Name: "down_proj", In: 8192, Out: 3072, Count: 1},
		}},
		{"gpt2", []Linear{ // n_inner null: 4 × 768
			{Name: "c_attn", In: 768, Out: 2304, Count: 1, Bias: true},
			{Name: "attn.c_proj", In: 768, Out: 768, Count: 1, Bias: true},
			{Name: "c_fc", In: 768, Out: 3072, Count: 1, Bias: true},
			{Name: "mlp.c_proj", In: 3072, Out: 768, Count: 1, Bias: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.preset, func(t *testing.T) {
			t.Parallel()
			m, err := LookupPreset(tc.preset)
			require.NoError(t, err)
			for i, l := range m.Decoder {
				assert.Equal(t, tc.want, l.Linears, "layer %d", i)
			}
		})
	}
}

func boolPtr(b bool) *bool { return &b }

// windows lists each layer's attention window, 0 for global attention.
func windows(m Model) []int {
	out := make([]int, len(m.Decoder))
	for i, l := range m.Decoder {
		out[i] = l.Window
	}
	return out
}
func intPtr(i int) *int { return &i }

// smallLlama is a valid architecture that tests vary one field at a time.
func smallLlama() Architecture {
	return Architecture{ModelType: "llama", HiddenSize: 64, IntermediateSize: 128, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, VocabSize: 100}
}

// TestConventions checks what a model_type implies when the config is silent
// or explicit, on small shapes whose counts are worked out by hand.
func TestConventions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		arch  func() Architecture
		check func(t *testing.T, m Model)
	}{
		{"llama defaults: untied, head_dim = hidden/heads", smallLlama, func(t *testing.T, m Model) {
			// Layer: q 64·64 + k, v 2·64·32 + o 64·64 + 3·64·128 + 2 norms of 64
			// = 4096 + 4096 + 4096 + 24,576 + 128 = 36,992.
			assert.Equal(t, 16, m.HeadDim)
			assert.False(t, m.TiedEmbeddings)
			assert.Equal(t, int64(36_992), m.LayerParameters)
			// 2·100·64 + 2·36,992 + 64
			assert.Equal(t, int64(12_800+73_984+64), m.Parameters)
		}},
		{"llama attention_bias and mlp_bias", func() Architecture {
			a := smallLlama()
			a.AttentionBias, a.MLPBias = true, true
			return a
		}, func(t *testing.T, m Model) {
			// Biases: q 64 + k 32 + v 32 + o 64 + gate 128 + up 128 + down 64 = 512.
			assert.Equal(t, int64(36_992+512), m.LayerParameters)
			for _, l := range m.Decoder[0].Linears {
				assert.True(t, l.Bias, l.Name)
			}
		}},
		{"tie_word_embeddings true halves the embeddings", func() Architecture {
			a := smallLlama()
			a.TieWordEmbeddings = boolPtr(true)
			return a
		}, func(t *testing.T, m Model) {
			assert.True(t, m.TiedEmbeddings)
			assert.Equal(t, int64(100*64), m.EmbeddingParameters)
		}},
		{"explicit head_dim", func() Architecture {
			a := smallLlama()
			a.HeadDim = 32
			return a
		}, func(t *testing.T, m Model) {
			assert.Equal(t, 32, m.HeadDim)
			assert.Equal(t, Linear{Name: "q_proj", In: 64, Out: 128, Count: 1}, m.Decoder[0].Linears[0])
		}},
		{"gemma defaults: tied, head_dim 256", func() Architecture {
			a := smallLlama()
			a.ModelType = "gemma"
			return a
		}, func(t *testing.T, m Model) {
			assert.True(t, m.TiedEmbeddings)
			assert.Equal(t, 256, m.HeadDim)
		}},
		{"mistral sliding window", func() Architecture {
			a := smallLlama()
			a.ModelType, a.SlidingWindow = "mistral", 4096
			return a
		}, func(t *testing.T, m Model) { assert.Equal(t, []int{4096, 4096}, windows(m)) }},
		{"llama ignores sliding_window", func() Architecture {
			a := smallLlama()
			a.SlidingWindow = 4096
			return a
		}, func(t *testing.T, m Model) { assert.Equal(t, []int{0, 0}, windows(m)) }},
		{"qwen2 window on every layer (max_window_layers 0)", func() Architecture {
			a := smallLlama()
			a.ModelType, a.SlidingWindow, a.UseSlidingWindow, a.MaxWindowLayers = "qwen2", 32, true, intPtr(0)
			return a
		}, func(t *testing.T, m Model) { assert.Equal(t, []int{32, 32}, windows(m)) }},
		{"qwen2 window from max_window_layers on", func() Architecture {
			a := smallLlama()
			a.ModelType, a.SlidingWindow, a.UseSlidingWindow, a.MaxWindowLayers = "qwen2", 32, true, intPtr(1)
			return a
		}, func(t *testing.T, m Model) { assert.Equal(t, []int{0, 32}, windows(m)) }},
		{"qwen2 max_window_layers defaults to 28", func() Architecture {
			a := smallLlama()
			a.ModelType, a.SlidingWindow, a.UseSlidingWindow = "qwen2", 32, true
			return a
		}, func(t *testing.T, m Model) { assert.Equal(t, []int{0, 0}, windows(m)) }},
		{"gpt2 accepts hidden_size for n_embd", func() Architecture {
			return Architecture{ModelType: "gpt2", HiddenSize: 64, NLayer: 1, NHead: 4, NPositions: 8, VocabSize: 10}
		}, func(t *testing.T, m Model) {
			// Layer: (64·192 + 192) + (64·64 + 64) + (64·256 + 256) + (256·64 + 64)
			// + 2·128 = 12,480 + 4,160 + 16,640 + 16,448 + 256 = 49,984.
			assert.Equal(t, int64(49_984), m.LayerParameters)
			// 10·64 + 8·64 tied + 1 layer + final LayerNorm 128.
			assert.Equal(t, int64(640+512+49_984+128), m.Parameters)
			assert.False(t, m.GatedMLP)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := tc.arch().Model("test")
			require.NoError(t, err)
			tc.check(t, m)
		})
	}
}

// TestArchitectureErrors checks that a config that cannot be built says why.
func TestArchitectureErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(a *Architecture)
		want   string
	}{
		{"model_type missing", func(a *Architecture) { a.ModelType = "" },
			"model_type is required; supported: cohere, deepseek_v2, deepseek_v3, gemma, gemma2, gemma3, gemma3_text, gpt2, gpt_oss, granite, kimi_k2, llama, llama4, llama4_text, mistral, mistral3, mixtral, olmo2, phi, phi3, phimoe, qwen2, qwen2_moe, qwen3, qwen3_moe"},
		{"model_type unknown", func(a *Architecture) { a.ModelType = "mamba" },
			`model_type "mamba" is not supported; supported: cohere, deepseek_v2, deepseek_v3, gemma, gemma2, gemma3, gemma3_text, gpt2, gpt_oss, granite, kimi_k2, llama, llama4, llama4_text, mistral, mistral3, mixtral, olmo2, phi, phi3, phimoe, qwen2, qwen2_moe, qwen3, qwen3_moe`},
		{"hidden_size missing", func(a *Architecture) { a.HiddenSize = 0 },
			"hidden_size is required for model_type llama: want a positive integer"},
		{"intermediate_size missing", func(a *Architecture) { a.IntermediateSize = 0 },
			"intermediate_size is required for model_type llama: want a positive integer"},
		{"negative layers", func(a *Architecture) { a.NumHiddenLayers = -1 },
			"num_hidden_layers -1: want an integer from 1 to 67108864"},
		{"huge vocabulary", func(a *Architecture) { a.VocabSize = 1 << 40 },
			"vocab_size 1099511627776: want an integer from 1 to 67108864"},
		{"kv heads do not divide heads", func(a *Architecture) { a.NumKeyValueHeads = 3 },
			"num_key_value_heads 3 must divide num_attention_heads 4"},
		{"negative sliding window", func(a *Architecture) { a.SlidingWindow = -1 },
			"sliding_window -1: want an integer from 0 to 67108864"},
		{"hidden not a multiple of heads", func(a *Architecture) { a.HiddenSize = 66 },
			"hidden_size 66 is not a multiple of num_attention_heads 4; set head_dim"},
		{"more than 1e15 parameters", func(a *Architecture) {
			a.HiddenSize, a.IntermediateSize, a.NumHiddenLayers = 1<<26, 1<<26, 1<<14
		}, "the architecture has more than 1e15 parameters"},
		{"more layers than any model", func(a *Architecture) { a.NumHiddenLayers = 1 << 20 },
			"num_hidden_layers 1048576: want an integer from 1 to 16384"},
		{"mixtral without experts", func(a *Architecture) { a.ModelType = "mixtral" },
			"num_local_experts and num_experts_per_tok are required for model_type mixtral"},
		{"more experts per token than experts", func(a *Architecture) {
			a.ModelType, a.NumLocalExperts, a.NumExpertsPerTok = "mixtral", 2, 3
		}, "num_experts_per_tok 3 exceeds num_local_experts 2"},
		{"gpt2 aliases disagree", func(a *Architecture) { a.ModelType, a.NEmbd = "gpt2", 32 },
			"n_embd 32 and hidden_size 64 disagree; set one of them"},
		{"gpt2 without n_positions", func(a *Architecture) { a.ModelType = "gpt2" },
			"n_positions is required for model_type gpt2: want a positive integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := smallLlama()
			tc.modify(&a)
			_, err := a.Model("test")
			require.ErrorIs(t, err, ErrInvalidModel)
			assert.EqualError(t, err, tc.want)
		})
	}
}
