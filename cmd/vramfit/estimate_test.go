package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runEstimate(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(append([]string{"estimate"}, args...), &out, &errOut)
	return status, out.String(), errOut.String()
}

// squeeze collapses the table's column padding to single spaces.
func squeeze(s string) string {
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, " ")
}

// decodeReports reads JSON output: one object per target and line.
func decodeReports(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var reports []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		reports = append(reports, r)
	}
	return reports
}

func TestEstimateJSON(t *testing.T) {
	t.Parallel()
	status, stdout, stderr := runEstimate(t, "--model", "llama-3.1-70b", "--precision", "fp8", "--kv-cache-dtype", "fp8",
		"--context", "32768", "--batch", "8", "--tensor-parallel", "2", "--gpu", "h100-80gb", "--output", "json", "--name", "llama-3-70b-fp8")
	require.Equal(t, 0, status, stderr)
	reports := decodeReports(t, stdout)
	require.Len(t, reports, 1)
	r := reports[0]
	// DESIGN.md § Output's example, field for field.
	assert.Equal(t, "llama-3-70b-fp8", r["target"])
	assert.Equal(t, "detailed", r["method"])
	assert.Equal(t, "inference", r["workload"])
	assert.Equal(t, float64(70553706496), r["parameters"])
	assert.Equal(t, float64(70553706496), r["parameters_active"])
	assert.Equal(t, float64(163840), r["kv_cache_bytes_per_token"])
	assert.Equal(t, float64(2), r["gpus"])
	assert.Equal(t, float64(2), r["gpus_required"])
	assert.Equal(t, map[string]any{"name": "h100-80gb", "memory_bytes": float64(85520809984)}, r["gpu"])
	assert.Equal(t, "", r["unfit_reason"])
	assert.Contains(t, r, "max_batch")
	assert.Contains(t, r, "max_context")
	perGPU := r["per_gpu_bytes"].(map[string]any)
	assert.Equal(t, perGPU["weights"].(float64)+perGPU["kv_cache"].(float64)+perGPU["activations"].(float64)+
		perGPU["gradients"].(float64)+perGPU["optimizer"].(float64)+perGPU["overhead"].(float64), perGPU["total"])
	assumptions := r["assumptions"].(map[string]any)
	assert.Equal(t, true, assumptions["flash_attention"])
	assert.Equal(t, "none", assumptions["recompute"])
	assert.Equal(t, 0.9, assumptions["memory_utilization"])
	assert.Empty(t, r["warnings"])
	assert.Empty(t, stderr)
}

// A context beyond the model's limit is an error that names it, unless the
// target allows it; then it is a warning, in the JSON and on stderr.
func TestEstimateModelLimit(t *testing.T) {
	t.Parallel()
	status, _, stderr := runEstimate(t, "--model", "llama-3-70b", "--context", "32768", "--output", "json")
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, "context: 32768 tokens exceed the model's limit of 8192 (max_position_embeddings after rope scaling); "+
		"set allow_long_context to estimate it anyway")
	status, stdout, stderr := runEstimate(t, "--model", "llama-3-70b", "--context", "32768", "--allow-long-context",
		"--output", "json", "--name", "long")
	require.Equal(t, 0, status, stderr)
	warning := "context 32768 is longer than the model's limit of 8192 tokens (allow_long_context is set)"
	assert.Equal(t, []any{warning}, decodeReports(t, stdout)[0]["warnings"])
	assert.Equal(t, "vramfit estimate: long: warning: "+warning+"\n", stderr)
}

func TestEstimateJSONWithoutGPU(t *testing.T) {
	t.Parallel()
	status, stdout, stderr := runEstimate(t, "--parameters", "70B", "--output", "json")
	require.Equal(t, 0, status, stderr)
	r := decodeReports(t, stdout)[0]
	assert.Nil(t, r["gpu"])
	assert.Nil(t, r["gpus_required"])
	assert.Nil(t, r["kv_cache_bytes_per_token"], "unknown without an architecture")
	perGPU := r["per_gpu_bytes"].(map[string]any)
	assert.Nil(t, perGPU["kv_cache"])
	assert.Nil(t, perGPU["activations"])
	assert.Equal(t, float64(140e9), perGPU["weights"])
	assert.Equal(t, "70B", r["target"])
}

func TestEstimateTable(t *testing.T) {
	t.Parallel()
	status, stdout, stderr := runEstimate(t, "--model", "llama-3-8b", "--gpu", "h100")
	require.Equal(t, 0, status, stderr)
	for _, want := range []string{
		"target llama-3-8b\n",
		"model llama-3-8b: inference, detailed, bf16 weights\n",
		"KV cache bf16, 131072 bytes per token",
		" weights 14.96\n", // 16,060,522,496 bytes of bf16 weights
		" kv_cache 0.50\n", // 4096 tokens × 131,072 bytes
		" overhead 1.00\n",
		"gpus FITS on 1 × h100-80gb (tensor_parallel 1, pipeline_parallel 1, 79.65 GiB each)",
		"assumptions flash_attention=true memory_utilization=0.90 overhead=1.00 GiB max_batched_tokens=8192\n",
	} {
		assert.Contains(t, squeeze(stdout), want)
	}
	assert.NotContains(t, stdout, "gradients", "inference has none")
	assert.Empty(t, stderr)
}

func TestEstimateTableUnfit(t *testing.T) {
	t.Parallel()
	status, stdout, _ := runEstimate(t, "--model", "llama-3.1-8b", "--workload", "training", "--context", "32768",
		"--batch", "64", "--gpu", "h100-80gb")
	require.Equal(t, 0, status)
	out := squeeze(stdout)
	assert.Contains(t, out, "gpus DOES NOT FIT: no number of h100-80gb fits: however many share the target, each needs at least 9716.99 GiB")
	assert.Contains(t, out, "its largest part, activations, 9714.00 GiB, does not shrink further with more GPUs; would help: recompute: selective or full")
	// The parts shown are the target's own layout's, one GPU: all 14.96
	// GiB of bf16 weights, not a 4096th of them.
	assert.Contains(t, out, " weights 14.96\n")
	assert.Contains(t, out, "(the parts above are those of the target's own layout: tensor_parallel 1, pipeline_parallel 1)")
	assert.Contains(t, stdout, "recompute=none")
}

// What the target sets is kept: two replicas of TP 2 take four GPUs, and
// the verdict names the field placement chose.
func TestEstimateTableReplicas(t *testing.T) {
	t.Parallel()
	status, stdout, _ := runEstimate(t, "--model", "llama-3-70b", "--tensor-parallel", "2", "--data-parallel", "2", "--gpu", "h100-80gb")
	require.Equal(t, 0, status)
	assert.Contains(t, squeeze(stdout), "gpus FITS on 4 × h100-80gb (tensor_parallel 2, pipeline_parallel 1, data_parallel 2, 79.65 GiB each); "+
		"chosen, as the target leaves them open: pipeline_parallel")
}

func TestEstimateRuleOfThumb(t *testing.T) {
	t.Parallel()
	// The seed's example: 7B trained in BF16 needs 7 GPUs of 24 GB.
	status, stdout, stderr := runEstimate(t, "--parameters", "7B", "--workload", "training", "--method", "rule-of-thumb",
		"--gpu", "24GB", "--output", "json")
	require.Equal(t, 0, status, stderr)
	r := decodeReports(t, stdout)[0]
	assert.Equal(t, float64(7), r["gpus_required"])
	assert.Equal(t, "rule-of-thumb", r["method"])
}

func TestEstimateConfigFile(t *testing.T) {
	t.Parallel()
	status, stdout, stderr := runEstimate(t, "--config.file", "../../deploy/examples/targets.yml", "--gpu", "h100-80gb", "--output", "json")
	require.Equal(t, 0, status, stderr)
	reports := decodeReports(t, stdout)
	require.Len(t, reports, 7)
	assert.Equal(t, "llama-3-70b-fp8-32k", reports[0]["target"])
	for _, r := range reports {
		assert.Positive(t, r["gpus_required"], r["target"])
	}
	// --method applies to every target of the file.
	status, stdout, stderr = runEstimate(t, "--config.file", "../../deploy/examples/targets.yml", "--method", "rule-of-thumb")
	assert.Equal(t, 1, status, "the file's lora targets have no rule of thumb")
	assert.Contains(t, stderr, `vramfit estimate: target "mistral-7b-lora": method: rule-of-thumb has rules for workloads inference and training only, not lora`)
	assert.Contains(t, squeeze(stdout), "target llama-3-8b-chat")
}

func TestEstimateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		status int
		stderr string
	}{
		{nil, 2, "vramfit estimate: give a model (--model, --hf-config or --parameters) or --config.file; --list-models shows the presets\n"},
		{[]string{"--model", "gpt2", "--batch", "0"}, 2, "vramfit estimate: --batch: must be at least 1, got 0\n"},
		{[]string{"--model", "gpt2", "--precision", "fp9"}, 2, "vramfit estimate: --precision: unknown \"fp9\"; valid: fp32, bf16, fp16, fp8, int8, int4, nf4, nf4-dq, q8_0, q6_k, q5_1, q5_0, q4_1, q4_0, iq4_nl, mxfp4, q5_k_m, q5_k_s, q4_k_m, q4_k_s, iq4_xs, q3_k_l, q3_k_s, q2_k, iq2_m, iq1_s\n"},
		{[]string{"--model", "gpt2", "--parameters", "7B"}, 2, "vramfit estimate: give one of --model, --hf-config and --parameters, not 2\n"},
		{[]string{"--parameters", "1e40"}, 2, "vramfit estimate: --parameters: parameter count \"1e40\" is above the limit of 1e15\n"},
		{[]string{"--model", "gpt2", "--gpu", "24G"}, 2, "vramfit estimate: --gpu: gpu \"24G\" is neither a catalog name"},
		{[]string{"--config.file", "x.yml", "--batch", "2", "--model", "gpt2"}, 2,
			"vramfit estimate: --config.file takes the targets from the file; drop --batch, --model (only --gpu, --method and --output combine with it)\n"},
		{[]string{"--config.file", "missing.yml"}, 2, "vramfit estimate: missing.yml: cannot read the targets file: no such file or directory\n"},
		{[]string{"--model", "llama-3-8b", "--tensor-parallel", "3"}, 1,
			"vramfit estimate: target \"llama-3-8b\": tensor_parallel: 3 does not divide the model's 32 attention heads (and 8 KV heads); valid degrees: 1, 2, 4, 8, 16, 32\n"},
		{[]string{"--model", "gpt2", "--output", "xml"}, 2, "vramfit: error: enum value must be one of table,json, got 'xml', try --help\n"},
	}
	for _, tc := range tests {
		status, stdout, stderr := runEstimate(t, tc.args...)
		assert.Equal(t, tc.status, status, "%v", tc.args)
		assert.True(t, strings.HasPrefix(stderr, tc.stderr), "%v: %q", tc.args, stderr)
		if tc.status != 0 {
			assert.Empty(t, stdout, "%v", tc.args)
		}
	}
}

// A GPU family of several sizes is refused rather than read as one of them,
// and a size with decimals (a total copied from an engine's log) is taken.
func TestEstimateGPUNames(t *testing.T) {
	t.Parallel()
	status, stdout, stderr := runEstimate(t, "--model", "gpt2", "--gpu", "a100")
	assert.Equal(t, 2, status)
	assert.Empty(t, stdout)
	assert.Equal(t, "vramfit estimate: --gpu: gpu \"a100\" names several catalog GPUs of different memory; name one: a100-40gb, a100-80gb\n", stderr)
	status, stdout, _ = runEstimate(t, "--model", "gpt2", "--gpu", "79.19GiB")
	require.Equal(t, 0, status)
	assert.Contains(t, squeeze(stdout), "FITS on 1 × 79.19GiB")
}

func TestEstimateLists(t *testing.T) {
	t.Parallel()
	status, stdout, _ := runEstimate(t, "--list-gpus")
	require.Equal(t, 0, status)
	assert.Contains(t, squeeze(stdout), "GPU MEMORY_BYTES GIB ALIASES\n")
	assert.Contains(t, squeeze(stdout), "h100-80gb 85520809984 79.65 h100, h100-sxm, h100-sxm-80gb\n")
	assert.Contains(t, squeeze(stdout), "a100-80gb 85899345920 80.00 -\n", "a100 names two sizes: no alias")
	status, stdout, _ = runEstimate(t, "--list-models")
	require.Equal(t, 0, status)
	assert.Contains(t, stdout, "llama-3-70b")
	assert.Contains(t, stdout, "70.55B")
}

func TestEstimateFlagsCoverFields(t *testing.T) {
	t.Parallel()
	// Every target field has a flag of the same name with dashes, and the
	// flags feed the same parsers as the file: a bool switch and a size.
	status, stdout, stderr := runEstimate(t, "--model", "gpt2", "--workload", "training", "--no-flash-attention",
		"--sequence-parallel", "--tensor-parallel", "2", "--overhead", "2GiB", "--recompute", "selective", "--output", "json")
	require.Equal(t, 0, status, stderr)
	a := decodeReports(t, stdout)[0]["assumptions"].(map[string]any)
	assert.Equal(t, false, a["flash_attention"])
	assert.Equal(t, true, a["sequence_parallel"])
	assert.Equal(t, float64(2<<30), a["overhead_bytes"])
	assert.Equal(t, "selective", a["recompute"])
	status, stdout, stderr = runEstimate(t, "--model", "llama-2-7b", "--workload", "lora", "--lora-rank", "64",
		"--lora-modules", "q_proj, v_proj", "--lora-dtype", "bf16", "--output", "json")
	require.Equal(t, 0, status, stderr)
	a = decodeReports(t, stdout)[0]["assumptions"].(map[string]any)
	assert.Equal(t, float64(64*8192*2*32), a["lora_parameters"])
}

// The table and the JSON say what the parameter count includes: a vision
// tower (Gemma 3) and, apart, DeepSeek-V3's multi-token-prediction layers.
func TestEstimateModelParts(t *testing.T) {
	t.Parallel()
	status, stdout, stderr := runEstimate(t, "--model", "deepseek-v3")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, stdout, "671.03B (671026419200) (37.55B (37552297472) active per token); "+
		"multi-token-prediction layers 13.46B (13463426304) apart, not loaded")
	status, stdout, stderr = runEstimate(t, "--model", "gemma-3-27b", "--output", "json")
	require.Equal(t, 0, status, stderr)
	r := decodeReports(t, stdout)[0]
	assert.Equal(t, float64(27432406640), r["parameters"])
	assert.Equal(t, float64(423060336), r["parameters_vision"])
	assert.NotContains(t, r, "parameters_next_token")
}

func TestEstimateEngineJSON(t *testing.T) {
	t.Parallel()
	// Record v29 of docs/engines.md: vLLM 0.19 logged 476,016 KV cache
	// tokens for Llama-3.1-8B on one H100 at utilization 0.95 and
	// max_model_len 16384 (https://github.com/llm-d-incubation/llm-d-planner/blob/main/accuracy/results/v0.19.0/logs/meta-llama-llama-3-1-8b--h100-80gb--tp1pp1dp1--16384.log);
	// the accounting predicts 476,176.
	status, stdout, stderr := runEstimate(t, "--model", "llama-3.1-8b", "--engine", "vllm", "--engine-profile", "vllm-v1-0.18",
		"--memory-utilization", "0.95", "--context", "16384", "--gpu", "h100-80gb", "--output", "json")
	require.Equal(t, 0, status, stderr)
	r := decodeReports(t, stdout)[0]
	assert.Equal(t, "vllm", r["engine"])
	assert.Equal(t, float64(476176), r["kv_cache_tokens"])
	assert.InDelta(t, 476176.0/16384, r["max_concurrency"], 1e-9)
	assert.Equal(t, float64(1), r["gpus_required"])
	assert.Equal(t, "vllm-v1-0.18", r["assumptions"].(map[string]any)["engine_profile"])

	// SGLang's mem_fraction_static defaults by GPU count: 0.88 on one.
	status, stdout, stderr = runEstimate(t, "--model", "llama-3.1-8b", "--engine", "sglang", "--gpu", "h100-80gb", "--output", "json")
	require.Equal(t, 0, status, stderr)
	r = decodeReports(t, stdout)[0]
	assert.Equal(t, 0.88, r["assumptions"].(map[string]any)["memory_utilization"])
	assert.Positive(t, r["kv_cache_tokens"])

	status, stdout, stderr = runEstimate(t, "--model", "llama-3.1-8b", "--gpu", "h100-80gb", "--output", "json")
	require.Equal(t, 0, status, stderr)
	r = decodeReports(t, stdout)[0]
	assert.Equal(t, "neutral", r["engine"])
	assert.Equal(t, float64(0), r["kv_cache_tokens"])
	assert.Equal(t, float64(0), r["max_concurrency"])
}

func TestEstimateTrainingEngineTable(t *testing.T) {
	t.Parallel()
	// torchtune's 8B full fine-tune on a 4090: paged 8-bit AdamW's states
	// are host memory, outside the GPU's total.
	status, stdout, stderr := runEstimate(t, "--model", "llama-3.1-8b", "--workload", "training", "--engine", "torchtune",
		"--optimizer", "paged-adamw-8bit", "--optimizer-in-backward", "--batch", "2", "--context", "2048", "--gpu", "rtx-4090")
	require.Equal(t, 0, status, stderr)
	out := squeeze(stdout)
	assert.Contains(t, out, "engine torchtune\n")
	assert.Contains(t, out, "host memory (not in total) 14.96\n")
	assert.Contains(t, out, "FITS on 1 × rtx-4090-24gb")
	assert.Contains(t, out, "optimizer=paged-adamw-8bit/int8 gradients=bf16 optimizer_in_backward=true")

	status, _, stderr = runEstimate(t, "--model", "llama-3.1-8b", "--workload", "lora", "--engine", "sglang")
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, "engine: sglang does not run the lora workload; valid for lora: neutral, torchtune, hf, deepspeed")
}

// A vLLM target at TP2 that does not say whether its GPUs share NVLink
// takes the GPU catalog's answer for --gpu, false without one; the flag
// wins; the assumptions say which and why.
func TestEstimateNVLink(t *testing.T) {
	t.Parallel()
	args := []string{"--model", "llama-3.1-8b", "--engine", "vllm", "--tensor-parallel", "2"}
	for _, tc := range []struct {
		extra []string
		line  string
		json  []any
	}{
		{[]string{"--gpu", "h100-80gb"}, "nvlink=true (h100-80gb)", []any{true, "h100-80gb"}},
		{[]string{"--gpu", "rtx-4090"}, "nvlink=false (rtx-4090-24gb)", []any{false, "rtx-4090-24gb"}},
		{[]string{"--gpu", "h100", "--no-nvlink"}, "nvlink=false (target)", []any{false, "target"}},
		{nil, "nvlink=false (default)", []any{false, "default"}},
	} {
		status, stdout, stderr := runEstimate(t, append(append([]string{}, args...), tc.extra...)...)
		require.Equal(t, 0, status, stderr)
		assert.Regexp(t, `(?m)^assumptions .* `+regexp.QuoteMeta(tc.line)+`$`, squeeze(stdout), tc.extra)
		status, stdout, stderr = runEstimate(t, append(append([]string{"--output", "json"}, args...), tc.extra...)...)
		require.Equal(t, 0, status, stderr)
		a := decodeReports(t, stdout)[0]["assumptions"].(map[string]any)
		assert.Equal(t, tc.json, []any{a["nvlink"], a["nvlink_from"]}, tc.extra)
	}
	// The neutral engine has no NVLink accounting and says nothing of it.
	status, stdout, stderr := runEstimate(t, "--model", "llama-3.1-8b", "--gpu", "h100", "--output", "json")
	require.Equal(t, 0, status, stderr)
	assert.NotContains(t, decodeReports(t, stdout)[0]["assumptions"], "nvlink")
}

// In a table the warnings are the table's last lines; they are not
// printed a second time on stderr, which a terminal shows beside them.
// JSON keeps them on stderr too, where a person sees them.
func TestEstimateTableWarningsOnce(t *testing.T) {
	t.Parallel()
	warning := "32 of 32 layers keep at most 4096 of the 32768 tokens in the KV cache (sliding or chunked attention)"
	status, stdout, stderr := runEstimate(t, "--model", "mistral-7b", "--context", "32768", "--gpu", "24GiB")
	require.Equal(t, 0, status, stderr)
	assert.Equal(t, 1, strings.Count(squeeze(stdout), "warning "+warning+"\n"), stdout)
	assert.Empty(t, stderr)
	status, _, stderr = runEstimate(t, "--model", "mistral-7b", "--context", "32768", "--gpu", "24GiB", "--output", "json")
	require.Equal(t, 0, status, stderr)
	assert.Equal(t, "vramfit estimate: mistral-7b: warning: "+warning+"\n", stderr)
}

// A serving engine's longest context is that of one request in its KV
// cache; the table must not claim it holds at the target's batch: 8
// requests of 131072 tokens are far more than the 438320 tokens it has.
func TestEstimateTableEngineMaxContext(t *testing.T) {
	t.Parallel()
	status, stdout, stderr := runEstimate(t, "--model", "llama-3.1-70b", "--precision", "fp8", "--kv-cache-dtype", "fp8",
		"--context", "32768", "--batch", "8", "--gpu", "h100-80gb", "--engine", "vllm")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, squeeze(stdout), "engine KV cache 438320 tokens per replica")
	assert.Contains(t, squeeze(stdout), "limits max batch 13 at context 32768; max context 131072 for one request\n")
}
