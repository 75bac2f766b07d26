package targetsfile

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/model"
	"github.com/vramfit/vramfit/estimator/report"
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
		"invalid-several.yml": `:4: targets[0].precision: unknown "q9"; valid: ` + weightFormats(t) + "\n" +
			dir + `invalid-several.yml:5: targets[0].memory_utilization: must be a number more than 0 and at most 1, got "1.5"`,
	}
	files, err := filepath.Glob(dir + "invalid-*.yml")
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every invalid file has its expected error")
	for name, want := range tests {
		targets, err := Load(dir + name)
		assert.Nil(t, targets, name)
		assert.EqualError(t, err, dir+name+want, name)
		assert.ErrorIs(t, err, estimator.ErrInvalidTarget, name)
	}
}

func TestLoadTargetsValid(t *testing.T) {
	t.Parallel()
	targets, err := Load("testdata/targets/valid-design.yml")
	require.NoError(t, err)
	require.Len(t, targets, 2)
	first := targets[0]
	assert.Equal(t, estimator.Target{Name: "llama-3-70b-fp8-32k", Model: model.ModelSource{Preset: "llama-3.1-70b"}, Workload: estimator.Inference,
		Precision: "fp8", KVCacheDType: "fp8", Context: 32768, Batch: 8, TensorParallel: 2, MemoryUtilization: 0.9}, fieldsOf(first))
	// A relative hf_config is relative to the file's directory, and kept as
	// written: it names the model in labels and reports.
	assert.Equal(t, "models/llama-2-7b/config.json", targets[1].Model.HFConfig)
	e, err := estimator.Estimate(targets[1])
	require.NoError(t, err)
	assert.EqualValues(t, 6_738_415_616, e.Model().Parameters) // Llama-2-7B, REFERENCES §4
	assert.Equal(t, "models/llama-2-7b/config.json", report.New(e, nil).Model)
	assert.Equal(t, &estimator.LoRA{Rank: 16, Modules: []string{"q_proj", "k_proj", "v_proj", "o_proj"}}, targets[1].LoRA)
	for _, target := range targets {
		_, err := estimator.Estimate(target)
		assert.NoError(t, err, target.Name)
	}

	targets, err = Load("testdata/targets/valid-empty-list.yml")
	require.NoError(t, err)
	assert.Empty(t, targets)
	assert.NotNil(t, targets)

	file, err := ParseFile(mustRead(t, "testdata/targets/valid-defaults.yml"), "testdata/targets/valid-defaults.yml")
	require.NoError(t, err)
	require.Len(t, file.Targets, 3)
	twoGiB := int64(2 << 30)
	assert.Equal(t, estimator.Target{Context: 2048, Recompute: estimator.RecomputeSelective, Overhead: &twoGiB}, file.Defaults)
	serve, train, own := file.Targets[0], file.Targets[1], file.Targets[2]
	assert.Equal(t, 2048, serve.Context)
	assert.Empty(t, serve.Recompute, "a training default does not apply to inference")
	assert.Equal(t, &twoGiB, serve.Overhead)
	assert.Equal(t, estimator.RecomputeSelective, train.Recompute)
	assert.Equal(t, 512, own.Context, "the target's own value wins")
	assert.Equal(t, ptr(false), own.FlashAttention)
}

// A file-wide 16-bit precision is for the targets that take one: a qlora
// target keeps its quantised base instead of being refused.
func TestDefaultPrecisionSkipsQLoRA(t *testing.T) {
	t.Parallel()
	targets, err := Parse([]byte(`defaults: {precision: bf16}
targets:
  - {name: tune, model: {preset: gpt2}, workload: qlora}
  - {name: serve, model: {preset: gpt2}}
`), "t.yml")
	require.NoError(t, err)
	assert.Empty(t, targets[0].Precision, "qlora keeps its own default, nf4-dq")
	assert.Equal(t, "bf16", targets[1].Precision)
	e, err := estimator.Estimate(targets[0])
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
	targets, err := Parse([]byte("targets:\n  - name: a\n    model: {hf_config: config.json}\n"), filepath.Join(dir, "t.yml"))
	require.NoError(t, err)
	require.NoError(t, os.Remove(config))

	e, err := estimator.Estimate(targets[0])
	require.NoError(t, err)
	assert.EqualValues(t, 6_738_415_616, e.Model().Parameters) // Llama-2-7B, REFERENCES §4

	// A source changed after parsing is resolved anew.
	changed := targets[0]
	changed.Model = model.ModelSource{Preset: "gpt2"}
	e, err = estimator.Estimate(changed)
	require.NoError(t, err)
	assert.EqualValues(t, 124_439_808, e.Model().Parameters) // GPT-2, REFERENCES §4
}

func TestParseTargetsLimits(t *testing.T) {
	t.Parallel()
	_, err := Parse(make([]byte, MaxSize+1), "big.yml")
	assert.EqualError(t, err, fmt.Sprintf("big.yml: the file is larger than %d bytes", MaxSize))
	_, err = Parse([]byte("---\n"), "t.yml")
	assert.EqualError(t, err, "t.yml: the file is empty; write `targets: []` for a file without targets")
	_, err = Parse([]byte("- a\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:1: want a mapping with the keys targets and defaults")
	_, err = Parse([]byte("defaults: {}\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:1: no targets: key; write `targets: []` for a file without targets")
	_, err = Parse([]byte("targets: []\n<<: {a: 1}\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:2: merge keys (<<) are not supported in a targets file")
	_, err = Parse([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    lora: {rank: 0, modules: q_proj}\n    workload: lora\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:4: targets[0].lora.rank: must be at least 1, got 0\n"+
		"t.yml:4: targets[0].lora.modules: must be a list of module names such as [q_proj, v_proj], got str \"q_proj\"")
	_, err = Parse([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    flash_attention: yes\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:4: targets[0].flash_attention: must be true or false, got str \"yes\"")
	_, err = Parse([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    overhead: 1.5G\n"), "t.yml")
	assert.EqualError(t, err, `t.yml:4: targets[0].overhead: size "1.5G": unknown unit "G"; valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)`)
	_, err = Parse([]byte("defaults: {batch: -2}\ntargets: []\n"), "t.yml")
	assert.EqualError(t, err, "t.yml:1: defaults.batch: must be at least 1, got -2")

	var bad strings.Builder
	bad.WriteString("targets:\n")
	for range 60 {
		bad.WriteString("  - {name: a, model: {preset: gpt2}, batch: 0}\n")
	}
	_, err = Parse([]byte(bad.String()), "t.yml")
	require.Error(t, err)
	assert.Len(t, strings.Split(err.Error(), "\n"), 51, "50 errors and their count")
	assert.True(t, strings.HasSuffix(err.Error(), "\n(and 69 more errors)"), err.Error()[len(err.Error())-40:])

	var many strings.Builder
	many.WriteString("targets:\n")
	for i := 0; i <= MaxTargets; i++ {
		fmt.Fprintf(&many, "  - {name: t%d, model: {preset: gpt2}}\n", i)
	}
	_, err = Parse([]byte(many.String()), "t.yml")
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
	targets, err := Load("../../deploy/examples/targets.yml")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(targets), 4)
	h100, err := estimator.LookupGPU("h100-80gb")
	require.NoError(t, err)
	for _, target := range targets {
		e, err := estimator.Estimate(target)
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
		targets, err := Parse(data, "testdata/targets/fuzz.yml")
		if err != nil {
			return
		}
		// Validated in full: every target estimates, finite and non-negative.
		for _, target := range targets {
			e, err := estimator.Estimate(target)
			if err != nil {
				t.Fatalf("target %q passed Parse but not Estimate: %v", target.Name, err)
			}
			checkComponents(t, e.Requirement().Components)
		}
	})
}

// checkComponents fails unless c's parts are in range and add up to its
// total.
func checkComponents(t *testing.T, c estimator.Components) {
	t.Helper()
	var sum int64
	for _, p := range c.Parts() {
		if p.Name == "total" {
			continue
		}
		if p.Bytes < 0 || p.Bytes > estimator.MaxSize+1 {
			t.Fatalf("component out of range: %+v", c)
		}
		sum += p.Bytes
	}
	if c.Total != sum {
		t.Fatalf("total does not add up: %+v", c)
	}
}

// BenchmarkLoadTargets parses, validates and estimates a file of 1,000
// targets, as the exporter does on every configuration load.
func BenchmarkLoadTargets(b *testing.B) {
	presets := []string{"llama-3-8b", "llama-3-70b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "gemma-7b", "phi-4", "llama-3.1-8b"}
	var file strings.Builder
	file.WriteString("defaults: {memory_utilization: 0.9}\ntargets:\n")
	workloads := []estimator.Workload{estimator.Inference, estimator.Training, estimator.LoRAWork, estimator.QLoRAWork}
	for i := range 1000 {
		workload := workloads[i%len(workloads)]
		fmt.Fprintf(&file, "  - name: target-%d\n    model: {preset: %s}\n    workload: %s\n    context: %d\n    batch: %d\n",
			i, presets[i%len(presets)], workload, 1024<<(i%4), 1+i%8)
	}
	path := filepath.Join(b.TempDir(), "targets.yml")
	require.NoError(b, os.WriteFile(path, []byte(file.String()), 0o600))
	for b.Loop() {
		targets, err := Load(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, target := range targets {
			if _, err := estimator.Estimate(target); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// fieldsOf is t without what the parser keeps beside its fields (the model
// it resolved, which estimator's tests check).
func fieldsOf(t estimator.Target) estimator.Target {
	var out estimator.Target
	from, to := reflect.ValueOf(t), reflect.ValueOf(&out).Elem()
	for i := range from.NumField() {
		if from.Type().Field(i).IsExported() {
			to.Field(i).Set(from.Field(i))
		}
	}
	return out
}

// weightFormats are the formats the weights may take, as the error of an
// unknown precision lists them.
func weightFormats(t *testing.T) string {
	var target estimator.Target
	for _, f := range estimator.TargetFields() {
		if f.Key == "precision" {
			err := f.Set(&target, "q9")
			require.Error(t, err)
			list, ok := strings.CutPrefix(err.Error(), `unknown "q9"; valid: `)
			require.True(t, ok, err.Error())
			return list
		}
	}
	t.Fatal("no precision field")
	return ""
}

// TestEngineDefaultsInAFile: a file-wide engine applies to the workloads it runs,
// and so does a file-wide profile; the serving settings only to inference.
func TestEngineDefaultsInAFile(t *testing.T) {
	t.Parallel()
	file := []byte(`targets:
  - name: serve
    model: {preset: llama-3.1-8b}
  - name: tune
    model: {preset: llama-3.1-8b}
    workload: lora
    engine: torchtune
  - name: train
    model: {preset: llama-3.1-8b}
    workload: training
defaults: {engine: vllm, engine_profile: vllm-v1, max_num_seqs: 64}
`)
	targets, err := Parse(file, "targets.yml")
	require.NoError(t, err)
	require.Len(t, targets, 3)
	assert.Equal(t, estimator.EngineVLLM, targets[0].Engine)
	assert.Equal(t, "vllm-v1", targets[0].EngineProfile)
	assert.Equal(t, 64, targets[0].MaxNumSeqs)
	assert.Equal(t, estimator.EngineTorchtune, targets[1].Engine)
	assert.Empty(t, targets[1].EngineProfile)
	assert.Zero(t, targets[1].MaxNumSeqs)
	assert.Empty(t, targets[2].Engine)
}

// A target's overhead takes every size in the one grammar of package
// bytesize, fractions included (estimator's TestSizesUseTheOneGrammar has
// --gpu's).
func TestOverheadUsesTheOneGrammar(t *testing.T) {
	t.Parallel()
	targets, err := Parse([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    overhead: 0.5GiB\n  - name: b\n    model: {preset: gpt2}\n    overhead: 1.0000000001KiB\n"), "t.yml")
	require.NoError(t, err)
	require.Len(t, targets, 2)
	require.NotNil(t, targets[0].Overhead)
	assert.Equal(t, int64(1<<29), *targets[0].Overhead)
	require.NotNil(t, targets[1].Overhead)
	assert.Equal(t, int64(1025), *targets[1].Overhead)
}

// A defaults entry that does not parse is reported once, at the defaults
// block, not again under every target that inherits it; and the targets'
// own checks still run, so that their own faults are not hidden by it.
func TestBadDefaultReportedOnce(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`defaults: {memory_utilization: 1.3}
targets:
  - {name: a, model: {preset: gpt2}}
  - {name: b, model: {preset: llama-3-8b}, tensor_parallel: 3}
`), "t.yml")
	assert.EqualError(t, err, `t.yml:1: defaults.memory_utilization: must be a number more than 0 and at most 1, got "1.3"`+"\n"+
		"t.yml:4: targets[1].tensor_parallel: 3 does not divide the model's 32 attention heads (and 8 KV heads); valid degrees: 1, 2, 4, 8, 16, 32")
}

// An integer too large for 64 bits is still an integer: YAML resolves it as
// a float, but the error is that of its range, as on the command line, not
// that it is not an integer.
func TestHugeIntegerIsOutOfRange(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    batch: 99999999999999999999\n"), "t.yml")
	assert.EqualError(t, err, `t.yml:4: targets[0].batch: must be a whole number from 1 to 1048576, got "99999999999999999999"`)
	_, err = Parse([]byte("targets:\n  - name: a\n    model: {preset: gpt2}\n    batch: 1.5\n"), "t.yml")
	assert.EqualError(t, err, `t.yml:4: targets[0].batch: must be an integer, got float "1.5"`)
}
