package estimator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

func TestLoadTargetsInvalid(t *testing.T) {
	t.Parallel()
	const dir = "testdata/targets/"
	tests := map[string]string{
		"invalid-unknown-field.yml": `:4: targets[0]: unknown field "batchh"; did you mean batch?`,
		"invalid-batch-zero.yml":    `:6: targets[1].batch: must be at least 1, got 0`,
		"invalid-context-zero.yml":  `:4: targets[0].context: must be at least 1, got 0`,
		"invalid-wrong-type.yml":    `:4: targets[0].batch: must be an integer, got str "four"`,
		// Every duplicate points at the first, not at the one before it.
		"invalid-duplicate-name.yml": `:4: targets[1].name: duplicate name "a"; the first is at line 2` + "\n" +
			dir + `invalid-duplicate-name.yml:6: targets[2].name: duplicate name "a"; the first is at line 2`,
		"invalid-duplicate-key.yml": `:4: targets[0].model: given twice; the first is at line 3`,
		"invalid-empty.yml":         ": the file is empty; write `targets: []` for a file without targets",
		"invalid-empty-name.yml":    `:2: targets[0].name: must not be empty`,
		"invalid-control-name.yml":  `:2: targets[0].name: "a\tb" holds a control character or invalid UTF-8`,
		"invalid-long-name.yml":     `:2: targets[0].name: is 129 bytes long; at most 128 are allowed`,
		"invalid-parameters.yml":    `:3: targets[0].model: parameters: parameter count "1e40" is above the limit of 1e15`,
		"invalid-tensor-parallel.yml": `:4: targets[0].tensor_parallel: 3 does not divide the model's 32 attention heads (and 8 KV heads); ` +
			`valid degrees: 1, 2, 4, 8, 16, 32`,
		"invalid-workload.yml":          `:4: targets[0].workload: unknown "serving"; valid: inference, training, lora, qlora`,
		"invalid-two-documents.yml":     `:4: a second YAML document; a targets file holds one`,
		"invalid-lora-inference.yml":    `:4: targets[0].lora: applies to workloads lora and qlora, not inference`,
		"invalid-hf-config-missing.yml": `:3: targets[0].model: open testdata/targets/models/missing/config.json: no such file or directory`,
		"invalid-syntax.yml":            `:4: found character that cannot start any token; line 4 is indented with a tab; YAML indents with spaces only`,
		// yaml names line 6, where the second target begins; the fault is on line 9.
		"invalid-indentation.yml": `:9: did not find expected key; line 9 is indented by 5 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4, 6)`,
		"invalid-misspelt-field.yml": `:4: targets[0]: unknown field "tensorparallel"; did you mean tensor_parallel?` + "\n" +
			dir + `invalid-misspelt-field.yml:6: targets[1].model: set one of preset, parameters, architecture or hf_config`,
		"invalid-alias-bomb.yml":  `:2: aliases (*a) are not supported in a targets file`,
		"invalid-model-field.yml": `:3: targets[0].model: unknown field "foo"; valid: architecture, hf_config, parameters, preset`,
		"invalid-architecture-field.yml": `:4: targets[0].model.architecture: unknown field "hiden_layers"; valid: activation_function, ` +
			`attention_bias, attention_chunk_size, decoder_sparse_step, experts_per_token, first_k_dense_replace, head_dim, hidden_act, ` +
			`hidden_size, interleave_moe_layer_step, intermediate_size, intermediate_size_mlp, kv_lora_rank, layer_types, lm_head_bias, ` +
			`max_position_embeddings, max_window_layers, mlp_bias, mlp_only_layers, model_type, moe_intermediate_size, moe_layer_freq, ` +
			`moe_layers, multimodal_projector_bias, n_embd, n_head, n_inner, n_layer, n_positions, n_routed_experts, n_shared_experts, ` +
			`no_rope_layers, num_attention_heads, num_experts, num_experts_per_tok, num_hidden_layers, num_key_value_heads, ` +
			`num_local_experts, num_nextn_predict_layers, q_lora_rank, qk_layernorm, qk_nope_head_dim, qk_rope_head_dim, ` +
			`quantization_config, rope_scaling, shared_expert_intermediate_size, sliding_window, sliding_window_pattern, ` +
			`spatial_merge_size, text_config, tie_word_embeddings, topk_method, use_qk_norm, use_sliding_window, v_head_dim, ` +
			`vision_config, vocab_size`,
		// Every error of a file is reported, one per line.
		"invalid-several.yml": `:4: targets[0].precision: unknown "q9"; valid: ` + strings.Join(dtypeNames(roleWeights), ", ") + "\n" +
			dir + `invalid-several.yml:5: targets[0].memory_utilization: must be a number more than 0 and at most 1, got "1.5"`,
	}
	files, err := filepath.Glob(dir + "invalid-*.yml")
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every invalid file has its expected error")
	for name, want := range tests {
		targets, err := LoadTargets(dir + name)
		assert.Nil(t, targets, name)
		assert.EqualError(t, err, dir+name+want, name)
		assert.ErrorIs(t, err, ErrInvalidTarget, name)
	}
}

func TestLoadTargetsValid(t *testing.T) {
	t.Parallel()
	targets, err := LoadTargets("testdata/targets/valid-design.yml")
	require.NoError(t, err)
	require.Len(t, targets, 2)
	first := targets[0]
	require.NotNil(t, first.resolved, "the parser keeps the model it resolved")
	first.resolved = nil
	assert.Equal(t, Target{Name: "llama-3-70b-fp8-32k", Model: model.ModelSource{Preset: "llama-3.1-70b"}, Workload: Inference,
		Precision: "fp8", KVCacheDType: "fp8", Context: 32768, Batch: 8, TensorParallel: 2, MemoryUtilization: 0.9}, first)
	// A relative hf_config is relative to the file's directory, and kept as
	// written: it names the model in labels and reports.
	assert.Equal(t, "models/llama-2-7b/config.json", targets[1].Model.HFConfig)
	e, err := Estimate(targets[1])
	require.NoError(t, err)
	assert.EqualValues(t, 6_738_415_616, e.Model().Parameters) // Llama-2-7B, REFERENCES §4
	assert.Equal(t, "models/llama-2-7b/config.json", e.Report(nil).Model)
	assert.Equal(t, &LoRA{Rank: 16, Modules: []string{"q_proj", "k_proj", "v_proj", "o_proj"}}, targets[1].LoRA)
	for _, target := range targets {
		_, err := Estimate(target)
		assert.NoError(t, err, target.Name)
	}

	targets, err = LoadTargets("testdata/targets/valid-empty-list.yml")
	require.NoError(t, err)
	assert.Empty(t, targets)
	assert.NotNil(t, targets)

	file, err := ParseTargetsFile(mustRead(t, "testdata/targets/valid-defaults.yml"), "testdata/targets/valid-defaults.yml")
	require.NoError(t, err)
	require.Len(t, file.Targets, 3)
	twoGiB := int64(2 << 30)
	assert.Equal(t, Target{Context: 2048, Recompute: RecomputeSelective, Overhead: &twoGiB}, file.Defaults)
	serve, train, own := file.Targets[0], file.Targets[1], file.Targets[2]
	assert.Equal(t, 2048, serve.Context)
	assert.Empty(t, serve.Recompute, "a training default does not apply to inference")
	assert.Equal(t, &twoGiB, serve.Overhead)
	assert.Equal(t, RecomputeSelective, train.Recompute)
	assert.Equal(t, 512, own.Context, "the target's own value wins")
	assert.Equal(t, ptr(false), own.FlashAttention)
}

// A file-wide 16-bit precision is for the targets that take one: a qlora
// target keeps its quantised base instead of being refused.
func TestDefaultPrecisionSkipsQLoRA(t *testing.T) {
	t.Parallel()
	targets, err := ParseTargets([]byte(`defaults: {precision: bf16}
targets:
  - {name: tune, model: {preset: gpt2}, workload: qlora}
  - {name: serve, model: {preset: gpt2}}
`), "t.yml")
	require.NoError(t, err)
	assert.Empty(t, targets[0].Precision, "qlora keeps its own default, nf4-dq")
	assert.Equal(t, "bf16", targets[1].Precision)
	e, err := Estimate(targets[0])
	require.NoError(t, err)
	assert.Equal(t, "nf4-dq", e.Precision())
}

// Estimating a target of a targets file reads its model files no second
// time: the file read when it was parsed is the one estimated, even if it
// changes or goes away in between.
func TestEstimateReusesTheParsedModel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(config, mustRead(t, "testdata/targets/models/llama-2-7b/config.json"), 0o600))
	targets, err := ParseTargets([]byte("targets:\n  - name: a\n    model: {hf_config: config.json}\n"), filepath.Join(dir, "t.yml"))
	require.NoError(t, err)
	require.NoError(t, os.Remove(config))

	e, err := Estimate(targets[0])
	require.NoError(t, err)
	assert.EqualValues(t, 6_738_415_616, e.Model().Parameters) // Llama-2-7B, REFERENCES §4

	// A source changed after parsing is resolved anew.
	changed := targets[0]
	changed.Model = model.ModelSource{Preset: "gpt2"}
	e, err = Estimate(changed)
	require.NoError(t, err)
	assert.EqualValues(t, 124_439_808, e.Model().Parameters) // GPT-2, REFERENCES §4
}

func TestParseTargetsLimits(t *testing.T) {
	t.Parallel()
	_, err := ParseTargets(make([]byte, MaxTargetsFileSize+1), "big.yml")
	assert.EqualError(t, err, fmt.Sprintf("big.yml: the file is larger than %d bytes", MaxTargetsFileSize))
	_, err = ParseTargets([]byte("---\n"), "t.yml")
	assert.EqualError(t, err, "t.yml: the file is empty; write `targets: []` for a file without targets")
	_, err = ParseTargets([]byte("- a\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:1: want a mapping with the keys targets and defaults")
	_, err = ParseTargets([]byte("defaults: {}\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:1: no targets: key; write `targets: []` for a file without targets")
	_, err = ParseTargets([]byte("targets: []\n<<: {a: 1}\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:2: merge keys (<<) are not supported in a targets file")
	_, err = ParseTargets([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    lora: {rank: 0, modules: q_proj}\n    workload: lora\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:4: targets[0].lora.rank: must be at least 1, got 0\n"+
		"t.yml:4: targets[0].lora.modules: must be a list of module names such as [q_proj, v_proj], got str \"q_proj\"")
	_, err = ParseTargets([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    flash_attention: yes\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:4: targets[0].flash_attention: must be true or false, got str \"yes\"")
	_, err = ParseTargets([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    overhead: 1.5G\n"), "t.yml")
	assert.EqualError(t, err, `t.yml:4: targets[0].overhead: size "1.5G": unknown unit "G"; valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)`)
	_, err = ParseTargets([]byte("defaults: {batch: -2}\ntargets: []\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:1: defaults.batch: must be at least 1, got -2")

	var bad strings.Builder
	bad.WriteString("targets:\n")
	for range 60 {
		bad.WriteString("  - {name: a, model: {preset: gpt2}, batch: 0}\n")
	}
	_, err = ParseTargets([]byte(bad.String()), "t.yml")
	require.Error(t, err)
	assert.Len(t, strings.Split(err.Error(), "\n"), 51, "50 errors and their count")
	assert.True(t, strings.HasSuffix(err.Error(), "\n(and 69 more errors)"), err.Error()[len(err.Error())-40:])

	var many strings.Builder
	many.WriteString("targets:\n")
	for i := 0; i <= MaxTargets; i++ {
		fmt.Fprintf(&many, "  - {name: t%d, model: {preset: gpt2}}\n", i)
	}
	_, err = ParseTargets([]byte(many.String()), "t.yml")
	assert.EqualError(t, err, fmt.Sprintf("t.yml:2: targets: lists %d targets; at most %d are allowed", MaxTargets+1, MaxTargets))
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// TestExampleTargets keeps deploy/examples/targets.yml (used by make demo
// and the exporter's documentation) valid.
func TestExampleTargets(t *testing.T) {
	t.Parallel()
	targets, err := LoadTargets("../deploy/examples/targets.yml")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(targets), 4)
	h100 := gpu(t, "h100-80gb")
	for _, target := range targets {
		e, err := Estimate(target)
		require.NoError(t, err, target.Name)
		assert.Positive(t, e.ForGPU(h100).GPUsRequired, "%s fits some number of H100s", target.Name)
	}
}

func FuzzParseTargets(f *testing.F) {
	files, err := filepath.Glob("testdata/targets/*.yml")
	require.NoError(f, err)
	for _, file := range files {
		f.Add(mustRead(f, file))
	}
	f.Add([]byte("targets:\n  - {name: x, model: {parameters: 70B}, workload: training, zero_stage: 3, data_parallel: 8}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		targets, err := ParseTargets(data, "testdata/targets/fuzz.yml")
		if err != nil {
			return
		}
		// Validated in full: every target estimates, finite and non-negative.
		for _, target := range targets {
			e, err := Estimate(target)
			if err != nil {
				t.Fatalf("target %q passed ParseTargets but not Estimate: %v", target.Name, err)
			}
			checkComponents(t, e.Requirement().Components)
		}
	})
}

// BenchmarkLoadTargets parses, validates and estimates a file of 1,000
// targets, as the exporter does on every configuration load.
func BenchmarkLoadTargets(b *testing.B) {
	presets := []string{"llama-3-8b", "llama-3-70b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "gemma-7b", "phi-4", "llama-3.1-8b"}
	var file strings.Builder
	file.WriteString("defaults: {memory_utilization: 0.9}\ntargets:\n")
	for i := range 1000 {
		workload := workloads[i%len(workloads)]
		fmt.Fprintf(&file, "  - name: target-%d\n    model: {preset: %s}\n    workload: %s\n    context: %d\n    batch: %d\n",
			i, presets[i%len(presets)], workload, 1024<<(i%4), 1+i%8)
	}
	path := filepath.Join(b.TempDir(), "targets.yml")
	require.NoError(b, os.WriteFile(path, []byte(file.String()), 0o600))
	for b.Loop() {
		targets, err := LoadTargets(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, target := range targets {
			if _, err := Estimate(target); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// A parsed target is estimated once: Estimate returns the parser's
// estimation while the target is unchanged, and estimates anew after a
// caller changes it.
func TestParsedTargetEstimatedOnce(t *testing.T) {
	t.Parallel()
	targets, err := ParseTargets([]byte("targets:\n  - {name: a, model: {preset: llama-3-8b}, context: 2048}\n"), "t.yml")
	require.NoError(t, err)
	first, err := Estimate(targets[0])
	require.NoError(t, err)
	again, err := Estimate(targets[0])
	require.NoError(t, err)
	assert.Same(t, first, again)
	assert.Same(t, targets[0].resolved.est, first, "the parser's own estimation")

	changed := targets[0]
	changed.Method = RuleOfThumb
	other, err := Estimate(changed)
	require.NoError(t, err)
	assert.NotSame(t, first, other)
	assert.Equal(t, RuleOfThumb, other.Method())
}
