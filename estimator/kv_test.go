package estimator

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

func TestKVCacheBytesPerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset, dtype string
		want          int64
	}{
		// 2 · L · k · d · bytes. Llama-2-7B, fp16: 2·32·32·128·2 = 0.5 MiB per
		// token (REFERENCES §1.10; gpu_poor README: ~500 MB per 1000 tokens in vLLM).
		{"llama-2-7b", "", 524288},
		// HF blog "Llama 3.1": 8B 0.125 GB and 70B 0.313 GB per 1k tokens, FP16.
		{"llama-3-8b", "fp16", 131072},
		{"llama-3-70b", "fp16", 327680},
		// DESIGN.md's example: Llama-3-70B with an fp8 cache.
		{"llama-3-70b", "fp8", 163840},
		// GPT-2 small: 2·12·12·64·2 (config.json of openai-community/gpt2).
		{"gpt2", "", 36864},
		// Mistral-7B and Mixtral-8x7B have Llama-3-8B's attention shape (REFERENCES §4).
		{"mistral-7b", "", 131072},
		{"mixtral-8x7b", "", 131072},
	}
	for _, tc := range tests {
		e := estimatePreset(t, Target{KVCacheDType: tc.dtype}, tc.preset)
		got, ok := e.KVCacheBytesPerToken()
		require.True(t, ok)
		assert.Equal(t, tc.want, got, "%s %s", tc.preset, tc.dtype)
	}
}

func TestKVCacheOPT13B(t *testing.T) {
	t.Parallel()
	// vLLM paper (Kwon et al., 2023) §3: "the KV cache of a single token
	// demands 800 KB of space, calculated as 2 × 5120 × 40 × 2" for OPT-13B
	// (40 layers of 40 heads × 128), and 2048 tokens 1.6 GB per request.
	opt := model.Model{Name: "opt-13b", KnownArchitecture: true, Parameters: 13e9, ActiveParameters: 13e9,
		Layers: 40, HiddenSize: 5120, Heads: 40, KVHeads: 40, HeadDim: 128, VocabSize: 50272,
		Decoder: slices.Repeat([]model.Layer{{Attention: model.AttentionFull, KVHeads: 40, HeadDim: 128}}, 40)}
	e := estimateModel(t, Target{Context: 2048, KVCacheDType: "fp16"}, opt)
	perToken, ok := e.KVCacheBytesPerToken()
	require.True(t, ok)
	assert.Equal(t, int64(2*5120*40*2), perToken)
	assert.Equal(t, int64(2048*819200), e.Requirement().KVCache)
	assert.InDelta(t, 1.6, float64(e.Requirement().KVCache)/(1<<30), 0.1)
}

func TestKVCacheAtContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset  string
		context int
		wantGiB float64
	}{
		// HF blog "Llama 3.1" KV table (FP16, GiB; 16k = 16,000 and 128k = 128,000 tokens).
		{"llama-3.1-8b", 16000, 1.95},
		{"llama-3.1-8b", 128000, 15.62},
		{"llama-3.1-70b", 16000, 4.88},
		{"llama-3.1-70b", 128000, 39.06},
	}
	for _, tc := range tests {
		e := estimatePreset(t, Target{Context: tc.context}, tc.preset)
		// The table rounds to two decimals (15.625 is printed 15.62).
		assert.InDelta(t, tc.wantGiB, float64(e.Requirement().KVCache)/(1<<30), 0.0051, "%s at %d", tc.preset, tc.context)
	}
	// llm-analysis' README example: llama-7b, 512 + 32 tokens,
	// kv_cache_memory_per_gpu 285.21 MB.
	e := estimatePreset(t, Target{Context: 544}, "llama-2-7b")
	assert.Equal(t, int64(285212672), e.Requirement().KVCache)
}

func TestKVCacheSlidingWindow(t *testing.T) {
	t.Parallel()
	// Mistral 7B paper (arXiv 2310.06825): with a 4096-token window, "on a
	// sequence length of 32k tokens, this reduces the cache memory usage by 8x".
	e := estimatePreset(t, Target{Context: 32768}, "mistral-7b")
	assert.Equal(t, int64(32768*131072/8), e.Requirement().KVCache)
	assert.Contains(t, e.Warnings(), "32 of 32 layers keep at most 4096 of the 32768 tokens in the KV cache (sliding or chunked attention)")
}

func TestKVCacheTensorParallel(t *testing.T) {
	t.Parallel()
	// Llama-3-70B has 8 KV heads: TP 8 gives each GPU one, TP 16 replicates
	// it (vLLM: KV heads per rank = max(1, k/t)).
	e := estimatePreset(t, Target{}, "llama-3-70b")
	assert.Equal(t, 327680.0/8, e.kvPerToken(Layout{TensorParallel: 8, PipelineParallel: 1, DataParallel: 1}))
	assert.Equal(t, 327680.0/8, e.kvPerToken(Layout{TensorParallel: 16, PipelineParallel: 1, DataParallel: 1}))
	// Pipeline stages split the layers: 80 over 3 stages puts 27 on the first.
	assert.Equal(t, 327680.0*27/80, e.kvPerToken(Layout{TensorParallel: 1, PipelineParallel: 3, DataParallel: 1}))
}
