package model

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hfModel loads a config kept under testdata/models/hf; docs/model-sources.md
// says where each one comes from and how faithful the copy is.
func hfModel(t testing.TB, dir, file string) Model {
	t.Helper()
	m, err := LoadHFConfig(filepath.Join("testdata/models/hf", dir, file))
	require.NoError(t, err)
	return m
}

// assertPublished checks a count against a published figure given to unit:
// exactly when it is published to the parameter, else within one unit of
// its last digit (cards round some figures and truncate others).
func assertPublished(t *testing.T, published, unit float64, got int64, what string) {
	t.Helper()
	if unit == 1 {
		assert.Equal(t, int64(published), got, what)
		return
	}
	assert.Less(t, math.Abs(float64(got)-published), unit, "%s: %d against %g", what, got, published)
}

// TestFamilyParameterCounts checks each family on a real config.json: the
// total against a hand calculation from the config's values (written out
// below, one layer at a time), and that against the published figure.
func TestFamilyParameterCounts(t *testing.T) {
	t.Parallel()
	const B, M = 1e9, 1e6
	tests := []struct {
		name, dir, file string
		// total and active are hand-calculated from the config.
		total, active int64
		// published is the published total, to its unit; nonEmbedding, when
		// set, the published count without the embeddings (and LM head).
		published, unit      float64
		nonEmbedding, neUnit float64
		// activePublished is the published active count; some sources leave
		// the input embedding out of it (activeLessInput).
		activePublished, activeUnit float64
		activeLessInput             bool
		embedding                   int64
	}{
		// Qwen3-8B model card (huggingface.co/Qwen/Qwen3-8B): 8.2B, 6.95B
		// non-embedding. Layer: q 4096·4096, k and v 4096·1024, o, q/k norms
		// 2·128, MLP 3·4096·12288, two norms.
		{name: "qwen3 8B", dir: "Qwen__Qwen3-8B", file: "config.json",
			total:     2*151936*4096 + 36*(2*4096*4096+2*4096*1024+2*128+3*4096*12288+2*4096) + 4096,
			active:    2*151936*4096 + 36*(2*4096*4096+2*4096*1024+2*128+3*4096*12288+2*4096) + 4096,
			published: 8.2 * B, unit: 0.1 * B, nonEmbedding: 6.95 * B, neUnit: 0.01 * B, embedding: 2 * 151936 * 4096},
		// Qwen3-32B model card: 32.8B, 31.2B non-embedding. q 5120·8192.
		{name: "qwen3 32B", dir: "Qwen__Qwen3-32B", file: "config.json",
			total:     2*151936*5120 + 64*(2*5120*8192+2*5120*1024+2*128+3*5120*25600+2*5120) + 5120,
			active:    2*151936*5120 + 64*(2*5120*8192+2*5120*1024+2*128+3*5120*25600+2*5120) + 5120,
			published: 32.8 * B, unit: 0.1 * B, nonEmbedding: 31.2 * B, neUnit: 0.1 * B, embedding: 2 * 151936 * 5120},
		// Qwen3-30B-A3B model card: 30.5B total, 3.3B activated, 29.9B
		// non-embedding. head_dim 128 ≠ 2048/32. Layer: attention, router
		// 2048·128, 128 experts (8 active) of 3·2048·768.
		{name: "qwen3_moe 30B-A3B", dir: "Qwen__Qwen3-30B-A3B", file: "config.json",
			total:     2*151936*2048 + 48*(2*2048*4096+2*2048*512+2*128+2048*128+128*3*2048*768+2*2048) + 2048,
			active:    2*151936*2048 + 48*(2*2048*4096+2*2048*512+2*128+2048*128+8*3*2048*768+2*2048) + 2048,
			published: 30.5 * B, unit: 0.1 * B, nonEmbedding: 29.9 * B, activePublished: 3.3 * B, activeUnit: 0.1 * B, neUnit: 0.1 * B, embedding: 2 * 151936 * 2048},
		// Qwen3-235B-A22B model card: 235B total, 22B activated, 234B
		// non-embedding. q 4096·8192, 128 experts of 3·4096·1536.
		{name: "qwen3_moe 235B-A22B", dir: "Qwen__Qwen3-235B-A22B", file: "config.json",
			total:     2*151936*4096 + 94*(2*4096*8192+2*4096*512+2*128+4096*128+128*3*4096*1536+2*4096) + 4096,
			active:    2*151936*4096 + 94*(2*4096*8192+2*4096*512+2*128+4096*128+8*3*4096*1536+2*4096) + 4096,
			published: 235 * B, unit: B, nonEmbedding: 234 * B, activePublished: 22 * B, activeUnit: B, neUnit: B, embedding: 2 * 151936 * 4096},
		// Qwen1.5-MoE-A2.7B (Qwen blog and NVIDIA NeMo docs): 14.3B total,
		// 2.7B activated. Layer: q, k, v with biases, o, router 2048·60, 60
		// experts (4 active) of 3·2048·1408, the shared expert 3·2048·5632
		// and its gate 2048·1.
		{name: "qwen2_moe 1.5-MoE-A2.7B", dir: "Qwen__Qwen1.5-MoE-A2.7B", file: "config.reconstructed.json",
			total:     2*151936*2048 + 24*(4*2048*2048+3*2048+2048*60+60*3*2048*1408+3*2048*5632+2048+2*2048) + 2048,
			active:    2*151936*2048 + 24*(4*2048*2048+3*2048+2048*60+4*3*2048*1408+3*2048*5632+2048+2*2048) + 2048,
			published: 14.3 * B, unit: 0.1 * B, activePublished: 2.7 * B, activeUnit: 0.1 * B, embedding: 2 * 151936 * 2048},
		// DeepSeek-V3 technical report (arXiv:2412.19437), abstract: 671B
		// total, 37B activated (without the input embedding, as for gpt-oss). MLA: q_a 7168·1536 and its norm, q_b
		// 1536·128·192, kv_a 7168·576, its norm 512, kv_b 512·128·256, o
		// 128·128·7168. Three dense layers (3·7168·18432), 58 MoE layers:
		// router 7168·256 and its bias 256, 256 experts (8 active) and one
		// shared expert of 3·7168·2048.
		{name: "deepseek_v3 V3", dir: "deepseek-ai__DeepSeek-V3", file: "config.json",
			total: 2*129280*7168 + 7168 +
				3*(7168*1536+1536+1536*128*192+7168*576+512+512*128*256+128*128*7168+3*7168*18432+2*7168) +
				58*(7168*1536+1536+1536*128*192+7168*576+512+512*128*256+128*128*7168+7168*256+256+257*3*7168*2048+2*7168),
			active: 2*129280*7168 + 7168 +
				3*(7168*1536+1536+1536*128*192+7168*576+512+512*128*256+128*128*7168+3*7168*18432+2*7168) +
				58*(7168*1536+1536+1536*128*192+7168*576+512+512*128*256+128*128*7168+7168*256+256+9*3*7168*2048+2*7168),
			published: 671 * B, unit: B, activePublished: 37 * B, activeUnit: B, activeLessInput: true, embedding: 2 * 129280 * 7168},
		// DeepSeek-V2-Lite model card: 16B total, 2.4B activated (without
		// the input embedding, as checked below). q_lora_rank null: q_proj
		// 2048·16·192. One dense layer, 26 MoE layers of 64 experts (6
		// active) and two shared experts of 1408. config.json: a clone of the
		// deepseek-ai/DeepSeek-V2-Lite Hub repository, cakeng/CS262_moe
		// DeepSeek-V2-Lite/config.json @c294b7f.
		{name: "deepseek_v2 V2-Lite", dir: "deepseek-ai__DeepSeek-V2-Lite", file: "config.json",
			total: 2*102400*2048 + 2048 +
				(2048*16*192 + 2048*576 + 512 + 512*16*256 + 16*128*2048 + 3*2048*10944 + 2*2048) +
				26*(2048*16*192+2048*576+512+512*16*256+16*128*2048+2048*64+66*3*2048*1408+2*2048),
			active: 2*102400*2048 + 2048 +
				(2048*16*192 + 2048*576 + 512 + 512*16*256 + 16*128*2048 + 3*2048*10944 + 2*2048) +
				26*(2048*16*192+2048*576+512+512*16*256+16*128*2048+2048*64+8*3*2048*1408+2*2048),
			published: 16 * B, unit: B, activePublished: 2.4 * B, activeUnit: 0.1 * B, activeLessInput: true, embedding: 2 * 102400 * 2048},
		// gpt-oss model card (arXiv:2508.10925), Table 1: 20.91B total,
		// 3.61B active, which leaves out the input embedding (a lookup). Layer: q 2880·4096, k and v 2880·512, o 4096·2880,
		// all with biases; 64 sinks; router 2880·32 with bias; 32 experts
		// (4 active) of gate_up 2880·5760 and down 2880·2880 with biases.
		{name: "gpt_oss 20b", dir: "openai__gpt-oss-20b", file: "config.json",
			total:     2*201088*2880 + 2880 + 24*(2880*4096+4096+2*(2880*512+512)+4096*2880+2880+64+2880*32+32+32*(2880*5760+5760+2880*2880+2880)+2*2880),
			active:    2*201088*2880 + 2880 + 24*(2880*4096+4096+2*(2880*512+512)+4096*2880+2880+64+2880*32+32+4*(2880*5760+5760+2880*2880+2880)+2*2880),
			published: 20.91 * B, unit: 0.01 * B, activePublished: 3.61 * B, activeUnit: 0.01 * B, activeLessInput: true, embedding: 2 * 201088 * 2880},
		// Same card: 116.83B total, 5.13B active; 36 layers of 128 experts.
		{name: "gpt_oss 120b", dir: "openai__gpt-oss-120b", file: "config.json",
			total:     2*201088*2880 + 2880 + 36*(2880*4096+4096+2*(2880*512+512)+4096*2880+2880+64+2880*128+128+128*(2880*5760+5760+2880*2880+2880)+2*2880),
			active:    2*201088*2880 + 2880 + 36*(2880*4096+4096+2*(2880*512+512)+4096*2880+2880+64+2880*128+128+4*(2880*5760+5760+2880*2880+2880)+2*2880),
			published: 116.83 * B, unit: 0.01 * B, activePublished: 5.13 * B, activeUnit: 0.01 * B, activeLessInput: true, embedding: 2 * 201088 * 2880},
		// Gemma 2 report (arXiv:2408.00118), Table 2, 9B: 917,504,000
		// embedding and 8,324,201,984 non-embedding parameters. Layer: q and
		// o 3584·4096, k and v 3584·2048, MLP 3·3584·14336, four norms.
		// config.json: google/gemma-2-9b-it as downloaded on 2024-06-30,
		// doggy8088/GemmaTokenizerExtractor gemma-2-9b-it/config.json @a275733.
		{name: "gemma2 9B", dir: "google__gemma-2-9b-it", file: "config.json",
			total:     256000*3584 + 42*(2*3584*4096+2*3584*2048+3*3584*14336+4*3584) + 3584,
			active:    256000*3584 + 42*(2*3584*4096+2*3584*2048+3*3584*14336+4*3584) + 3584,
			published: 917_504_000 + 8_324_201_984, unit: 1, nonEmbedding: 8_324_201_984, neUnit: 1, embedding: 256000 * 3584},
		// KerasHub preset gemma3_instruct_1b: 999,885,952 parameters; Gemma
		// 3 report (arXiv:2503.19786), Table 1: 302M embedding, 698M
		// non-embedding. vocab 262144 (not the class's 262208), head_dim 256.
		{name: "gemma3_text 1B", dir: "google__gemma-3-1b-it", file: "config.transcribed.json",
			total:     262144*1152 + 26*(2*1152*1024+2*1152*256+3*1152*6912+4*1152+2*256) + 1152,
			active:    262144*1152 + 26*(2*1152*1024+2*1152*256+3*1152*6912+4*1152+2*256) + 1152,
			published: 999_885_952, unit: 1, nonEmbedding: 698 * M, neUnit: M, embedding: 262144 * 1152},
		// Gemma 3 report, Table 1, 12B: 10,759M non-embedding, 417M vision
		// encoder. text_config omits head_dim (256) and vocab_size
		// (262208). Vision: SigLIP, 27 layers of 1152 (MLP 4304) with
		// biases, 896/14 = 64² patches; projector 1152·3840 and a norm.
		{name: "gemma3 12B", dir: "google__gemma-3-12b-it", file: "config.reconstructed.json",
			total: 262208*3840 + 48*(2*3840*4096+2*3840*2048+3*3840*15360+4*3840+2*256) + 3840 +
				(3*14*14*1152 + 1152 + 4096*1152 + 27*(4*(1152*1152+1152)+2*1152*4304+4304+1152+4*1152) + 2*1152) +
				1152*3840 + 1152,
			active: 262208*3840 + 48*(2*3840*4096+2*3840*2048+3*3840*15360+4*3840+2*256) + 3840 +
				(3*14*14*1152 + 1152 + 4096*1152 + 27*(4*(1152*1152+1152)+2*1152*4304+4304+1152+4*1152) + 2*1152) +
				1152*3840 + 1152,
			published: 12 * B, unit: B, nonEmbedding: 10_759 * M, neUnit: M, embedding: 262208 * 3840},
		// Gemma 3 report, Table 1, 27B: 25,600M non-embedding; head_dim 128.
		{name: "gemma3 27B", dir: "google__gemma-3-27b-it", file: "config.reconstructed.json",
			total: 262208*5376 + 62*(2*5376*4096+2*5376*2048+3*5376*21504+4*5376+2*128) + 5376 +
				(3*14*14*1152 + 1152 + 4096*1152 + 27*(4*(1152*1152+1152)+2*1152*4304+4304+1152+4*1152) + 2*1152) +
				1152*5376 + 1152,
			active: 262208*5376 + 62*(2*5376*4096+2*5376*2048+3*5376*21504+4*5376+2*128) + 5376 +
				(3*14*14*1152 + 1152 + 4096*1152 + 27*(4*(1152*1152+1152)+2*1152*4304+4304+1152+4*1152) + 2*1152) +
				1152*5376 + 1152,
			published: 27 * B, unit: B, nonEmbedding: 25_600 * M, neUnit: M, embedding: 262208 * 5376},
		// OLMo 2 7B (huggingface.co/allenai/OLMo-2-1124-7B): 7B. Layer: the
		// Llama block, q_norm 4096 and k_norm 4096 over the projections.
		{name: "olmo2 7B", dir: "allenai__OLMo-2-1124-7B", file: "config.json",
			total:     2*100352*4096 + 32*(4*4096*4096+2*4096+3*4096*11008+2*4096) + 4096,
			active:    2*100352*4096 + 32*(4*4096*4096+2*4096+3*4096*11008+2*4096) + 4096,
			published: 7 * B, unit: B, embedding: 2 * 100352 * 4096},
		// Granite 3.1 8B (huggingface.co/ibm-granite/granite-3.1-8b-instruct):
		// 8B; tied. The multipliers hold no parameters.
		{name: "granite 3.1 8B", dir: "ibm-granite__granite-3.1-8b-instruct", file: "config.json",
			total:     49155*4096 + 40*(2*4096*4096+2*4096*1024+3*4096*12800+2*4096) + 4096,
			active:    49155*4096 + 40*(2*4096*4096+2*4096*1024+3*4096*12800+2*4096) + 4096,
			published: 8 * B, unit: B, embedding: 49155 * 4096},
		// Command R (huggingface.co/CohereForAI/c4ai-command-r-v01): 35B.
		// Tied; one LayerNorm without bias per layer.
		{name: "cohere command-r", dir: "CohereForAI__c4ai-command-r-v01", file: "config.reconstructed.json",
			total:     256000*8192 + 40*(4*8192*8192+3*8192*22528+8192) + 8192,
			active:    256000*8192 + 40*(4*8192*8192+3*8192*22528+8192) + 8192,
			published: 35 * B, unit: B, embedding: 256000 * 8192},
		// Phi-2 (Microsoft Research blog, "Phi-2: the surprising power of
		// small language models"): 2.7B. Layer: q, k, v, dense and fc1, fc2
		// with biases, one LayerNorm with bias; final LayerNorm; LM head
		// with bias. config.json: a clone of the microsoft/phi-2 Hub
		// repository, henryhmko/VLM_interpretability phi-2/config.json @53ca1a9.
		{name: "phi 2", dir: "microsoft__phi-2", file: "config.json",
			total:     2*51200*2560 + 51200 + 32*(4*(2560*2560+2560)+2560*10240+10240+10240*2560+2560+2*2560) + 2*2560,
			active:    2*51200*2560 + 51200 + 32*(4*(2560*2560+2560)+2560*10240+10240+10240*2560+2560+2*2560) + 2*2560,
			published: 2.7 * B, unit: 0.1 * B, embedding: 2*51200*2560 + 51200},
		// Phi-4: model.safetensors.index.json metadata.total_size
		// 29,319,014,400 bytes of bf16 = 14,659,507,200 parameters. Fused
		// qkv 5120·(40+20)·128 and gate_up 5120·35840.
		{name: "phi3 phi-4", dir: "microsoft__phi-4", file: "config.json",
			total:     2*100352*5120 + 40*(5120*7680+5120*5120+5120*35840+17920*5120+2*5120) + 5120,
			active:    2*100352*5120 + 40*(5120*7680+5120*5120+5120*35840+17920*5120+2*5120) + 5120,
			published: 29_319_014_400 / 2, unit: 1, embedding: 2 * 100352 * 5120},
		// Mistral-Small-3.1-24B (huggingface.co/mistralai/Mistral-Small-3.1-24B-Instruct-2503):
		// 24B. Text: Mistral-Small-24B-Instruct-2501's shape, whose index
		// total_size 47,144,806,400 bf16 bytes = 23,572,403,200 parameters
		// (checked below). Vision: Pixtral, 24 layers of 1024 with a gated
		// MLP of 4096, patch convolution 3·14²·1024, ln_pre; projector: norm
		// 1024, patch merger 4096·1024, 1024·5120 and 5120·5120. config.json:
		// the Hub files as uploaded on 2025-03-24,
		// AurelienVaudois/7688581-Expert-Git-GitHub "config(6).json" @423c617.
		{name: "mistral3 small 3.1", dir: "mistralai__Mistral-Small-3.1-24B-Instruct-2503", file: "config.json",
			total: 2*131072*5120 + 40*(2*5120*4096+2*5120*1024+3*5120*32768+2*5120) + 5120 +
				3*14*14*1024 + 1024 + 24*(4*1024*1024+3*1024*4096+2*1024) + 1024 + 4096*1024 + 1024*5120 + 5120*5120,
			active: 2*131072*5120 + 40*(2*5120*4096+2*5120*1024+3*5120*32768+2*5120) + 5120 +
				3*14*14*1024 + 1024 + 24*(4*1024*1024+3*1024*4096+2*1024) + 1024 + 4096*1024 + 1024*5120 + 5120*5120,
			published: 24 * B, unit: B, embedding: 2 * 131072 * 5120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := hfModel(t, tc.dir, tc.file)
			assert.Equal(t, tc.total, m.Parameters, "total")
			assert.Equal(t, tc.active, m.ActiveParameters, "active")
			assert.Equal(t, tc.embedding, m.EmbeddingParameters, "embedding")
			assertPublished(t, tc.published, tc.unit, m.Parameters, "published total")
			if tc.nonEmbedding != 0 {
				text := m.Parameters - m.EmbeddingParameters - m.VisionParameters
				assertPublished(t, tc.nonEmbedding, tc.neUnit, text, "published non-embedding")
			}
			if tc.activePublished != 0 {
				active := m.ActiveParameters
				if tc.activeLessInput {
					active -= int64(m.VocabSize) * int64(m.HiddenSize)
				}
				assertPublished(t, tc.activePublished, tc.activeUnit, active, "published active")
			}
		})
	}
}

// TestLlama4Counts checks Llama 4 from copies that lack vision_config
// (docs/model-sources.md): the test adds the vision values printed with
// the Scout config in a public model table (hidden 1408, MLP 5632, 34
// layers, image 336, patch 14, projector 4096, vision_output_dim 4096).
func TestLlama4Counts(t *testing.T) {
	t.Parallel()
	const B = 1e9
	vision := llama4Vision
	// Class token, 577 positions, unfolded patches 3·14²·1408, two
	// LayerNorms; layers with biases; adapter 5632·4096 and 4096·4096;
	// projector 4096·5120.
	const visionCount = 3*14*14*1408 + 1408 + 577*1408 + 4*1408 +
		34*(4*(1408*1408+1408)+2*1408*5632+5632+1408+4*1408) + 5632*4096 + 4096*4096 + 4096*5120
	// Attention q and o 5120·5120, k and v 5120·1024 (L2 q/k norm: no
	// weights); an MoE layer: router 5120·E, E experts of gate_up
	// 5120·16384 and down 8192·5120, a shared expert 3·5120·8192; a dense
	// layer: 3·5120·16384.
	const attention = 2*5120*5120 + 2*5120*1024 + 2*5120
	moe := func(experts, active int64) int64 { return attention + 5120*experts + active*3*5120*8192 + 3*5120*8192 }
	const dense = attention + 3*5120*16384
	tests := []struct {
		name, dir, file, preset    string
		text, textActive           int64
		published, publishedActive float64
	}{
		// Meta, "The Llama 4 herd" (ai.meta.com/blog/llama-4-multimodal-intelligence):
		// Scout 17B active, 109B total; every layer is MoE (16 experts).
		{name: "scout", dir: "meta-llama__Llama-4-Scout-17B-16E-Instruct", file: "config.trimmed.json", preset: "llama-4-scout",
			text: 2*202048*5120 + 48*moe(16, 16) + 5120, textActive: 2*202048*5120 + 48*moe(16, 1) + 5120,
			published: 109 * B, publishedActive: 17 * B},
		// Maverick: 17B active; 402B total on its Hugging Face page (Meta
		// rounds to 400B). interleave_moe_layer_step 2: layers 1, 3, ... are
		// MoE with 128 experts.
		{name: "maverick", dir: "meta-llama__Llama-4-Maverick-17B-128E-Instruct", file: "config.trimmed.json", preset: "llama-4-maverick",
			text: 2*202048*5120 + 24*moe(128, 128) + 24*dense + 5120, textActive: 2*202048*5120 + 24*moe(128, 1) + 24*dense + 5120,
			published: 402 * B, publishedActive: 17 * B},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata/models/hf", tc.dir, tc.file)
			data, err := readBounded(path, maxConfigBytes)
			require.NoError(t, err)
			a, err := ParseHFConfig(data)
			require.NoError(t, err)
			a.VisionConfig = vision
			m, err := a.Model(tc.name)
			require.NoError(t, err)
			assert.Equal(t, int64(visionCount), m.VisionParameters)
			assert.Equal(t, tc.text+visionCount, m.Parameters)
			assert.Equal(t, tc.textActive+visionCount, m.ActiveParameters)
			assertPublished(t, tc.published, B, m.Parameters, "published total")
			assertPublished(t, tc.publishedActive, B, m.ActiveParameters-m.VisionParameters, "published active")
			preset, err := LookupPreset(tc.preset)
			require.NoError(t, err)
			assert.Equal(t, m.Parameters, preset.Parameters, "the preset")
			// Every fourth layer (NoPE) attends globally, the others in
			// chunks of 8192.
			for i, l := range m.Decoder {
				if (i+1)%4 == 0 {
					assert.Equal(t, AttentionFull, l.Attention, "layer %d", i)
				} else {
					assert.Equal(t, AttentionChunked, l.Attention, "layer %d", i)
					assert.Equal(t, 8192, l.Window, "layer %d", i)
				}
			}
		})
	}
}

// TestDeepSeekNextTokenLayers checks that DeepSeek-V3's multi-token
// prediction layer is counted apart: the model card gives 671B for the
// main model and 14B for the MTP module (685B in all, as rounded figures).
// The layer is an MoE decoder layer, enorm and hnorm, eh_proj 14336·7168,
// and its own embedding, head norm and head.
func TestDeepSeekNextTokenLayers(t *testing.T) {
	t.Parallel()
	m := hfModel(t, "deepseek-ai__DeepSeek-V3", "config.json")
	const layer = 7168*1536 + 1536 + 1536*128*192 + 7168*576 + 512 + 512*128*256 + 128*128*7168 +
		7168*256 + 256 + 257*3*7168*2048 + 2*7168
	assert.Equal(t, int64(layer+2*7168+14336*7168+7168+2*129280*7168), m.NextTokenParameters)
	assert.Less(t, math.Abs(float64(m.NextTokenParameters)-14e9), 1e9)
	assert.Less(t, math.Abs(float64(m.Parameters+m.NextTokenParameters)-685e9), 1e9)
}

// TestMistral3TextMatchesMistralSmall checks the language model of
// Mistral-Small-3.1 against Mistral-Small-24B-Instruct-2501, which has its
// shape: that checkpoint's index gives total_size 47,144,806,400 bf16
// bytes, 23,572,403,200 parameters.
func TestMistral3TextMatchesMistralSmall(t *testing.T) {
	t.Parallel()
	m := hfModel(t, "mistralai__Mistral-Small-3.1-24B-Instruct-2503", "config.json")
	assert.Equal(t, int64(47_144_806_400/2), m.Parameters-m.VisionParameters)
}

// TestCheckpointIndexTotals checks four families against the
// model.safetensors.index.json kept beside their config.json in the same
// copies (metadata.total_size, 16-bit weights, so two bytes a parameter):
// gemma-2-9b-it 18,483,411,968 bytes (= the Gemma 2 report's 917,504,000 +
// 8,324,201,984), phi-2 5,559,367,680 bytes (fp16), DeepSeek-V2-Lite
// 31,412,968,448 bytes and Mistral-Small-3.1-24B-Instruct-2503
// 48,022,722,560 bytes (its text and vision together).
func TestCheckpointIndexTotals(t *testing.T) {
	t.Parallel()
	assert.Equal(t, int64(48_022_722_560/2), hfModel(t, "mistralai__Mistral-Small-3.1-24B-Instruct-2503", "config.json").Parameters)
	assert.Equal(t, int64(31_412_968_448/2), hfModel(t, "deepseek-ai__DeepSeek-V2-Lite", "config.json").Parameters)
	assert.Equal(t, int64(18_483_411_968/2), hfModel(t, "google__gemma-2-9b-it", "config.json").Parameters)
	assert.Equal(t, int64(5_559_367_680/2), hfModel(t, "microsoft__phi-2", "config.json").Parameters)
}

// TestPhiMoE checks phimoe on the Phi-3.5-MoE-instruct values that its
// derivative configs agree on (no verbatim copy was found): 4096 hidden,
// 6400 expert width, 32 layers, 32 heads and 8 KV heads, 16 experts (2 per
// token), vocabulary 32064, biases on attention and on the LM head. Model
// card (huggingface.co/microsoft/Phi-3.5-MoE-instruct): 41.9B total, 6.6B
// active. Layer: q, o 4096² and k, v 4096·1024 with biases, router
// 4096·16, 16 experts of 3·4096·6400, two LayerNorms with bias.
func TestPhiMoE(t *testing.T) {
	t.Parallel()
	a := Architecture{ModelType: "phimoe", HiddenSize: 4096, IntermediateSize: 6400, NumHiddenLayers: 32,
		NumAttentionHeads: 32, NumKeyValueHeads: 8, VocabSize: 32064, NumLocalExperts: 16, NumExpertsPerTok: 2,
		AttentionBias: true, LMHeadBias: true, MaxPositionEmbeddings: 131072, SlidingWindow: 131072}
	m, err := a.Model("phi-3.5-moe")
	require.NoError(t, err)
	const attention = 2*(4096*4096+4096) + 2*(4096*1024+1024)
	assert.Equal(t, int64(2*32064*4096+32064+32*(attention+4096*16+16*3*4096*6400+4*4096)+2*4096), m.Parameters)
	assert.Equal(t, int64(2*32064*4096+32064+32*(attention+4096*16+2*3*4096*6400+4*4096)+2*4096), m.ActiveParameters)
	assertPublished(t, 41.9e9, 0.1e9, m.Parameters, "published total")
	assertPublished(t, 6.6e9, 0.1e9, m.ActiveParameters, "published active")
}

// TestQuantizationConfigErrors checks that a quantization_config that
// cannot be sized says which key and what would be valid.
func TestQuantizationConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    QuantizationConfig
		want string
	}{
		{"no method", QuantizationConfig{}, "quantization_config: quant_method is required; supported: auto-round, awq, bitsandbytes, compressed-tensors, fbgemm_fp8, fp8, gptq, mxfp4"},
		{"unknown method", QuantizationConfig{QuantMethod: "hqq"}, `quantization_config: quant_method "hqq" is not supported; supported: auto-round, awq, bitsandbytes, compressed-tensors, fbgemm_fp8, fp8, gptq, mxfp4`},
		{"gptq bits", QuantizationConfig{QuantMethod: "gptq", Bits: 5}, "quantization_config: bits 5: want 2, 3, 4 or 8"},
		{"gptq group", QuantizationConfig{QuantMethod: "gptq", Bits: 4, GroupSize: -7}, "quantization_config: group_size -7: want -1 or a positive integer"},
		{"fp8 block", QuantizationConfig{QuantMethod: "fp8", WeightBlockSize: []int{128}}, "quantization_config: weight_block_size [128]: want two positive integers"},
		{"bnb without a mode", QuantizationConfig{QuantMethod: "bitsandbytes"}, "quantization_config: bitsandbytes without load_in_4bit or load_in_8bit: want one of them true"},
		{"compressed-tensors without groups", QuantizationConfig{QuantMethod: "compressed-tensors"}, "quantization_config: compressed-tensors without config_groups weights: want at least one group with weights"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := smallLlama()
			a.QuantizationConfig = &tc.q
			_, err := a.Model("q")
			require.ErrorIs(t, err, ErrInvalidModel)
			assert.EqualError(t, err, tc.want)
		})
	}
}

// TestCompressedTensors sizes compressed-tensors' w4a16 (int4, group 128,
// symmetric: a 16-bit scale per group), w8a8 (int8 per channel) and NVFP4.
func TestCompressedTensors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		config string
		name   string
		bits   float64
	}{
		{`{"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"group_0": {"targets": ["Linear"],
			"weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": true}}}, "ignore": ["lm_head"]}`,
			"compressed-tensors int4 g128", 4 + 16.0/128},
		{`{"quant_method": "compressed-tensors", "format": "int-quantized", "config_groups": {"group_0": {"targets": ["Linear"],
			"weights": {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": true}}}, "ignore": ["lm_head"]}`,
			"compressed-tensors int8", 8},
		// NVFP4: 4-bit floats, an FP8 scale per 16.
		{`{"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized", "config_groups": {"group_0": {"targets": ["Linear"],
			"weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16, "symmetric": true}}}}`,
			"compressed-tensors float4 g16", 4.5},
	} {
		var q QuantizationConfig
		require.NoError(t, json.Unmarshal([]byte(tc.config), &q))
		got, err := q.resolve()
		require.NoError(t, err)
		assert.Equal(t, &Quantization{Name: tc.name, Bits: tc.bits}, got)
	}
}

// TestFamilyErrors checks that the keys of the newer families are checked
// and that each error names the key and what would be valid.
func TestFamilyErrors(t *testing.T) {
	t.Parallel()
	gemma3 := func(modify func(a *Architecture)) Architecture {
		a := smallLlama()
		a.ModelType = "gemma3_text"
		modify(&a)
		return a
	}
	tests := []struct {
		name string
		arch Architecture
		want string
	}{
		{"layer_types too short", gemma3(func(a *Architecture) { a.LayerTypes = []string{"full_attention"} }),
			"layer_types has 1 entries for 2 layers; want one per layer"},
		{"layer_types unknown", gemma3(func(a *Architecture) { a.LayerTypes = []string{"full_attention", "linear_attention"} }),
			`layer_types[1] "linear_attention": want full_attention, sliding_attention or chunked_attention`},
		{"negative window pattern", gemma3(func(a *Architecture) { a.SlidingWindowPattern = -1 }),
			"sliding_window_pattern -1: want an integer from 0 to 67108864"},
		{"mlp_only_layers out of range", Architecture{ModelType: "qwen3_moe", HiddenSize: 64, IntermediateSize: 64,
			NumHiddenLayers: 2, NumAttentionHeads: 4, MLPOnlyLayers: []int{2}}, "mlp_only_layers names layer 2: want 0 to 1"},
		{"more experts per token than experts", Architecture{ModelType: "qwen3_moe", HiddenSize: 64, IntermediateSize: 64,
			NumHiddenLayers: 2, NumAttentionHeads: 4, NumExperts: 4, NumExpertsPerTok: 8}, "num_experts_per_tok 8 exceeds num_experts 4"},
		{"gpt-oss keys disagree", Architecture{ModelType: "gpt_oss", HiddenSize: 64, IntermediateSize: 64, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumExpertsPerTok: 4, ExpertsPerTokenKey: 2}, "num_experts_per_tok 4 and experts_per_token 2 disagree; set one of them"},
		{"deepseek_v3 default top-8 above its experts", Architecture{ModelType: "deepseek_v3", HiddenSize: 64, IntermediateSize: 64,
			NumHiddenLayers: 4, NumAttentionHeads: 4, NumExpertsPerTok: 0, MoeIntermediateSize: 8, NRoutedExperts: intPtr(4),
			KVLoraRank: 8, QKRopeHeadDim: 8, QKNopeHeadDim: 8, VHeadDim: 8},
			"num_experts_per_tok 8 exceeds n_routed_experts 4"},
		{"wrapper without text_config", Architecture{ModelType: "gemma3"}, "text_config is required for model_type gemma3"},
		{"wrapper with another text model", Architecture{ModelType: "mistral3", TextConfig: &Architecture{ModelType: "llama"}},
			`text_config.model_type "llama": want mistral for model_type mistral3`},
		{"text_config error named", Architecture{ModelType: "mistral3", TextConfig: &Architecture{HiddenSize: 64}},
			"text_config: num_hidden_layers is required for model_type mistral: want a positive integer"},
		{"vision patch larger than the image", Architecture{ModelType: "gemma3", TextConfig: &Architecture{HiddenSize: 64,
			IntermediateSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4}, VisionConfig: &VisionConfig{ImageSize: 8, PatchSize: 16}},
			"vision_config: patch_size 16 exceeds image_size 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.arch.Model("e")
			require.ErrorIs(t, err, ErrInvalidModel)
			assert.EqualError(t, err, tc.want)
		})
	}
}

// TestKimiK2 checks kimi_k2, DeepSeek-V3's architecture under its own
// model_type, on the values of the Kimi-K2 model card
// (huggingface.co/moonshotai/Kimi-K2-Instruct): 61 layers (1 dense), hidden
// 7168, MoE width 2048, 384 experts (8 per token) and 1 shared, 64 heads,
// vocabulary 160K; 1T total and 32B activated parameters.
func TestKimiK2(t *testing.T) {
	t.Parallel()
	a := Architecture{ModelType: "kimi_k2", HiddenSize: 7168, IntermediateSize: 18432, MoeIntermediateSize: 2048,
		NumHiddenLayers: 61, NumAttentionHeads: 64, NumKeyValueHeads: 64, VocabSize: 163840, NRoutedExperts: intPtr(384),
		NSharedExperts: intPtr(1), NumExpertsPerTok: 8, FirstKDenseReplace: intPtr(1), QLoraRank: intPtr(1536),
		KVLoraRank: 512, QKRopeHeadDim: 64, QKNopeHeadDim: 128, VHeadDim: 128, TopkMethod: "noaux_tc", MaxPositionEmbeddings: 131072}
	m, err := a.Model("kimi-k2")
	require.NoError(t, err)
	const attention = 7168*1536 + 1536 + 1536*64*192 + 7168*576 + 512 + 512*64*256 + 64*128*7168
	const dense = attention + 3*7168*18432 + 2*7168
	moe := func(experts int64) int64 { return attention + 7168*384 + 384 + experts*3*7168*2048 + 2*7168 }
	assert.Equal(t, 2*163840*7168+7168+dense+60*moe(385), m.Parameters)
	assert.Equal(t, 2*163840*7168+7168+dense+60*moe(9), m.ActiveParameters)
	assertPublished(t, 1e12, 1e12, m.Parameters, "published total")
	assertPublished(t, 32e9, 1e9, m.ActiveParameters, "published active")
	for _, l := range m.Decoder {
		assert.Equal(t, float64(512+64), l.KVValues(8), "MLA caches the latent whatever the heads held")
	}
}

// TestQuantMethods sizes each quant_method from the keys its configs write.
func TestQuantMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    QuantizationConfig
		want Quantization
	}{
		{"gptq 4-bit per channel", QuantizationConfig{QuantMethod: "gptq", Bits: 4, GroupSize: -1},
			Quantization{Name: "gptq int4", Bits: 4 + 20.0/maxDimension}},
		{"gptq 8-bit group 128", QuantizationConfig{QuantMethod: "gptq", Bits: 8, GroupSize: 128},
			Quantization{Name: "gptq int8 g128", Bits: 8 + 24.0/128}},
		{"awq without zero point", QuantizationConfig{QuantMethod: "awq", Bits: 4, GroupSize: 64, ZeroPoint: boolPtr(false)},
			Quantization{Name: "awq int4 g64", Bits: 4 + 16.0/64}},
		{"awq's w_bit and q_group_size", QuantizationConfig{QuantMethod: "awq", WBit: 4, QGroupSize: 128},
			Quantization{Name: "awq int4 g128", Bits: 4 + 20.0/128}},
		{"auto-round: GPTQ's layout", QuantizationConfig{QuantMethod: "auto-round", Bits: 4, GroupSize: 128},
			Quantization{Name: "auto-round int4 g128", Bits: 4 + 20.0/128}},
		{"fbgemm fp8", QuantizationConfig{QuantMethod: "fbgemm_fp8"}, Quantization{Name: "fbgemm fp8", Bits: 8}},
		{"fp8 per tensor", QuantizationConfig{QuantMethod: "fp8"}, Quantization{Name: "fp8", Bits: 8}},
		{"bitsandbytes 8-bit", QuantizationConfig{QuantMethod: "bitsandbytes", LoadIn8bit: true}, Quantization{Name: "bnb 8-bit", Bits: 8}},
		{"bitsandbytes 4-bit", QuantizationConfig{QuantMethod: "bitsandbytes", LoadIn4bit: true}, Quantization{Name: "bnb 4-bit", Bits: 4.5}},
		{"mxfp4", QuantizationConfig{QuantMethod: "mxfp4"}, Quantization{Name: "mxfp4 experts", Bits: 4.25, ExpertsOnly: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.q.resolve()
			require.NoError(t, err)
			assert.Equal(t, tc.want, *got)
		})
	}
}

// TestMoreShapes checks further members of the families on the sizes their
// config.json files give (typed in here, no copy of the file is kept)
// against published figures: where a figure is published to the parameter,
// to the parameter.
func TestMoreShapes(t *testing.T) {
	t.Parallel()
	const B = 1e9
	tests := []struct {
		name            string
		arch            Architecture
		published, unit float64
		nonEmbedding    int64
		activePublished float64
	}{
		// Gemma 2 report (arXiv:2408.00118), Table 2: 2,024,517,888 and
		// 26,047,480,320 non-embedding parameters (its embedding counts a
		// padded vocabulary; the checkpoints hold 256,000 rows).
		{name: "gemma-2-2b", arch: Architecture{ModelType: "gemma2", HiddenSize: 2304, IntermediateSize: 9216,
			NumHiddenLayers: 26, NumAttentionHeads: 8, NumKeyValueHeads: 4, HeadDim: 256, VocabSize: 256000},
			published: 2.6 * B, unit: 0.1 * B, nonEmbedding: 2_024_517_888},
		{name: "gemma-2-27b", arch: Architecture{ModelType: "gemma2", HiddenSize: 4608, IntermediateSize: 36864,
			NumHiddenLayers: 46, NumAttentionHeads: 32, NumKeyValueHeads: 16, HeadDim: 128, VocabSize: 256000},
			published: 27 * B, unit: B, nonEmbedding: 26_047_480_320},
		// Qwen2.5-0.5B model card: 0.49B, tied.
		{name: "qwen2.5-0.5b", arch: Architecture{ModelType: "qwen2", HiddenSize: 896, IntermediateSize: 4864,
			NumHiddenLayers: 24, NumAttentionHeads: 14, NumKeyValueHeads: 2, VocabSize: 151936, TieWordEmbeddings: boolPtr(true)},
			published: 0.49 * B, unit: 0.01 * B},
		// Phi-4-mini-instruct model card: 3.8B, tied.
		{name: "phi-4-mini", arch: Architecture{ModelType: "phi3", HiddenSize: 3072, IntermediateSize: 8192,
			NumHiddenLayers: 32, NumAttentionHeads: 24, NumKeyValueHeads: 8, VocabSize: 200064, TieWordEmbeddings: boolPtr(true)},
			published: 3.8 * B, unit: 0.1 * B},
		// Qwen2-57B-A14B model card: 57B total, 14B activated; a shared
		// expert of 20480 behind its gate.
		{name: "qwen2-57b-a14b", arch: Architecture{ModelType: "qwen2_moe", HiddenSize: 3584, IntermediateSize: 18944,
			NumHiddenLayers: 28, NumAttentionHeads: 28, NumKeyValueHeads: 4, VocabSize: 151936, NumExperts: 64,
			NumExpertsPerTok: 8, MoeIntermediateSize: 2560, SharedExpertIntermediateSize: 20480},
			published: 57 * B, unit: B, activePublished: 14 * B},
		// Command R+ model card: 104B; per-head q/k norms.
		{name: "command-r-plus", arch: Architecture{ModelType: "cohere", HiddenSize: 12288, IntermediateSize: 33792,
			NumHiddenLayers: 64, NumAttentionHeads: 96, NumKeyValueHeads: 8, VocabSize: 256000, UseQKNorm: true},
			published: 104 * B, unit: B},
		// OLMo 2 32B model card: 32B.
		{name: "olmo-2-32b", arch: Architecture{ModelType: "olmo2", HiddenSize: 5120, IntermediateSize: 27648,
			NumHiddenLayers: 64, NumAttentionHeads: 40, NumKeyValueHeads: 8, VocabSize: 100352},
			published: 32 * B, unit: B},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := tc.arch.Model(tc.name)
			require.NoError(t, err)
			assertPublished(t, tc.published, tc.unit, m.Parameters, "published total")
			if tc.nonEmbedding != 0 {
				assert.Equal(t, tc.nonEmbedding, m.Parameters-m.EmbeddingParameters)
			}
			if tc.activePublished != 0 {
				assertPublished(t, tc.activePublished, B, m.ActiveParameters, "published active")
			}
		})
	}
}
