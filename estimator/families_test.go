package estimator

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

// hfModel loads a config kept under the model package's testdata;
// docs/model-sources.md says where each one comes from.
func hfModel(t testing.TB, dir, file string) model.Model {
	t.Helper()
	m, err := model.LoadHFConfig(filepath.Join("model/testdata/models/hf", dir, file))
	require.NoError(t, err)
	return m
}

// TestFamilyKVCache checks the KV cache per token (bf16, the default) and
// at a long context against hand calculations: 2 · KV heads · head_dim · 2
// bytes per layer, MLA's (kv_lora_rank + qk_rope_head_dim) · 2 bytes, and
// sliding or chunked layers holding at most their window.
func TestFamilyKVCache(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dir, file string
		perToken        int64
		context         int
		atContext       int64
	}{
		{name: "qwen3 8B", dir: "Qwen__Qwen3-8B", file: "config.json", perToken: 36 * 2 * 8 * 128 * 2},
		{name: "qwen3_moe 30B-A3B", dir: "Qwen__Qwen3-30B-A3B", file: "config.json", perToken: 48 * 2 * 4 * 128 * 2},
		{name: "qwen2_moe", dir: "Qwen__Qwen1.5-MoE-A2.7B", file: "config.reconstructed.json", perToken: 24 * 2 * 16 * 128 * 2},
		// MLA caches the latent, not 128 heads of keys and values.
		{name: "deepseek_v3", dir: "deepseek-ai__DeepSeek-V3", file: "config.json", perToken: 61 * (512 + 64) * 2,
			context: 32768, atContext: 32768 * 61 * (512 + 64) * 2},
		{name: "deepseek_v2 lite", dir: "deepseek-ai__DeepSeek-V2-Lite", file: "config.json", perToken: 27 * (512 + 64) * 2},
		// 12 full layers and 12 of window 128, 2·8·64·2 = 2048 bytes each.
		{name: "gpt_oss 20b", dir: "openai__gpt-oss-20b", file: "config.json", perToken: 24 * 2048,
			context: 32768, atContext: 12*2048*32768 + 12*2048*128},
		// 21 global and 21 sliding (4096) layers of 2·8·256·2 = 8192 bytes.
		{name: "gemma2 9B", dir: "google__gemma-2-9b-it", file: "config.json", perToken: 42 * 8192,
			context: 8192, atContext: 21*8192*8192 + 21*8192*4096},
		// Layers 5, 11, ..., 59 global (10), 52 of window 1024; 2·16·128·2 bytes.
		{name: "gemma3 27B", dir: "google__gemma-3-27b-it", file: "config.reconstructed.json", perToken: 62 * 8192,
			context: 32768, atContext: 10*8192*32768 + 52*8192*1024},
		// head_dim 256 by default: 8 global of 48, window 1024.
		{name: "gemma3 12B", dir: "google__gemma-3-12b-it", file: "config.reconstructed.json", perToken: 48 * 8192,
			context: 32768, atContext: 8*8192*32768 + 40*8192*1024},
		// One KV head of 256: 1024 bytes a layer; 4 global of 26, window 512.
		{name: "gemma3_text 1B", dir: "google__gemma-3-1b-it", file: "config.transcribed.json", perToken: 26 * 1024,
			context: 32768, atContext: 4*1024*32768 + 22*1024*512},
		// 12 NoPE layers global, 36 chunked at 8192; 2·8·128·2 = 4096 bytes.
		{name: "llama4 scout", dir: "meta-llama__Llama-4-Scout-17B-16E-Instruct", file: "config.trimmed.json", perToken: 48 * 4096,
			context: 32768, atContext: 12*4096*32768 + 36*4096*8192},
		{name: "mistral3", dir: "mistralai__Mistral-Small-3.1-24B-Instruct-2503", file: "config.json", perToken: 40 * 4096},
		{name: "phi-4", dir: "microsoft__phi-4", file: "config.json", perToken: 40 * 2 * 10 * 128 * 2},
		{name: "phi-2", dir: "microsoft__phi-2", file: "config.json", perToken: 32 * 2 * 32 * 80 * 2},
		{name: "olmo2", dir: "allenai__OLMo-2-1124-7B", file: "config.json", perToken: 32 * 2 * 32 * 128 * 2},
		{name: "cohere", dir: "CohereForAI__c4ai-command-r-v01", file: "config.reconstructed.json", perToken: 40 * 2 * 64 * 128 * 2},
		{name: "granite", dir: "ibm-granite__granite-3.1-8b-instruct", file: "config.json", perToken: 40 * 2 * 8 * 128 * 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := hfModel(t, tc.dir, tc.file)
			e := estimateModel(t, Target{Context: max(tc.context, 1)}, m)
			got, ok := e.KVCacheBytesPerToken()
			require.True(t, ok)
			assert.Equal(t, tc.perToken, got, "bytes per token")
			if tc.context > 0 {
				assert.Equal(t, tc.atContext, e.Requirement().KVCache, "KV cache at %d tokens", tc.context)
			}
		})
	}
}

// TestQuantizationConfigWeights checks weights sized from a config's
// quantization_config, with no safetensors beside it, against published
// checkpoint sizes.
func TestQuantizationConfigWeights(t *testing.T) {
	t.Parallel()
	const GiB = 1 << 30
	tests := []struct {
		name, dir, file string
		wantBytes       float64
	}{
		// gpt-oss model card (arXiv:2508.10925), Table 1: checkpoint sizes
		// 12.8 GiB and 60.8 GiB, the experts in MXFP4 (4.25 bits) and the
		// rest in bf16.
		{"gpt-oss-20b mxfp4", "openai__gpt-oss-20b", "config.json", 12.8 * GiB},
		{"gpt-oss-120b mxfp4", "openai__gpt-oss-120b", "config.json", 60.8 * GiB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := estimateModel(t, Target{}, hfModel(t, tc.dir, tc.file))
			got := float64(e.Requirement().Weights)
			assert.InEpsilon(t, tc.wantBytes, got, 0.03, "weights %.2f GiB", got/GiB)
		})
	}
}

// TestAWQWeights checks AWQ's storage: 4-bit weights, and per group of 128
// a 16-bit scale and a 4-bit zero, with embeddings, the LM head and norms in
// 16 bits. hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4 (AutoAWQ,
// 4 bits, group 128, zero point) ships shards of 4.68 GB and 1.05 GB on its
// Hugging Face file list.
func TestAWQWeights(t *testing.T) {
	t.Parallel()
	m := presetModel(t, "llama-3-8b") // Llama 3.1 8B has its shape
	// As TestQuantizationConfigs reads it from an AWQ config.json.
	m.Quantization = &model.Quantization{Name: "awq int4 g128", Bits: model.GroupBits(4, 128, true)}
	e := estimateModel(t, Target{}, m)
	assert.Equal(t, "awq int4 g128", e.Precision())
	// 32 layers of q, o 4096², k, v 4096·1024 and 3·4096·14336 linear weights.
	const linear = 32 * (2*4096*4096 + 2*4096*1024 + 3*4096*14336)
	assert.Equal(t, int64(math.Ceil(linear*(4+20.0/128)/8+2*(8_030_261_248-linear))), e.Requirement().Weights)
	assert.InEpsilon(t, 4.68e9+1.05e9, float64(e.Requirement().Weights), 0.03)
	// Sized as bf16, as before quantization_config was read, it is 2.8 times that.
	assert.Greater(t, 2*8_030_261_248/float64(e.Requirement().Weights), 2.7)
}

// TestQuantizationConfigs reads the quantization_config of real configs and
// checks the bits each quantised weight takes.
func TestQuantizationConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir, file, name string
		bits            float64
		expertsOnly     bool
	}{
		// AutoAWQ: 4 bits, group 128, zero point.
		{"LDCC__Qwen2.5-72B-Instruct-ko-AWQ", "config.json", "awq int4 g128", 4 + 20.0/128, false},
		// bitsandbytes NF4 with double quantisation (QLoRA §3).
		{"asif00__bangla-llama-4bit", "config.json", "bnb 4-bit dq", model.NF4DoubleQuantBits, false},
		// FP8 with a fp32 scale per 128×128 block.
		{"Qwen__Qwen3-30B-A3B-FP8", "config.json", "fp8 block 128x128", 8 + 32.0/(128*128), false},
		{"deepseek-ai__DeepSeek-V3", "config.json", "fp8 block 128x128", 8 + 32.0/(128*128), false},
		// NVIDIA's FP8 checkpoint says so in hf_quant_config.json (ModelOpt),
		// not in config.json.
		{"nvidia__Llama-3.1-70B-Instruct-FP8", "config.json", "modelopt fp8", 8, false},
		// MXFP4 experts: 4 bits and an 8-bit scale per 32.
		{"openai__gpt-oss-20b", "config.json", "mxfp4 experts", 4.25, true},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			m := hfModel(t, tc.dir, tc.file)
			require.NotNil(t, m.Quantization)
			assert.Equal(t, model.Quantization{Name: tc.name, Bits: tc.bits, ExpertsOnly: tc.expertsOnly}, *m.Quantization)
			e := estimateModel(t, Target{}, m)
			assert.Equal(t, tc.name, e.Precision())
			// A precision set on the target wins over the config.
			bf16 := estimateModel(t, Target{Precision: "bf16"}, m)
			assert.Equal(t, int64(2*m.Parameters), bf16.Requirement().Weights)
		})
	}
}
