package engine

import (
	"fmt"
	"strings"
	"testing"
)

// llama8B is Llama-3-8B in bf16 on one H100: 8,030,261,248 parameters and
// 131,072 bytes of KV per token (2 × 32 layers × 8 heads × 128 × 2 bytes).
func llama8B() Input {
	return Input{
		Engine: VLLM, Profile: "vllm-v0-0.7",
		WeightBytes: 8_030_261_248 * 2, KVBytesPerToken: 131072,
		HiddenSize: 4096, MLPWidth: 14336, VocabSize: 128256,
		TotalBytes: gib(79.19), FreeBytes: gib(79.19),
		MaxModelLen: 8192,
	}
}

func TestParseKind(t *testing.T) {
	for s, want := range map[string]Kind{"": Neutral, "neutral": Neutral, "vllm": VLLM, "sglang": SGLang} {
		if got, err := ParseKind(s); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	if _, err := ParseKind("tgi"); err == nil || !strings.Contains(err.Error(), "vllm") {
		t.Errorf("ParseKind(tgi) = %v, want an error naming the engines", err)
	}
}

func TestVLLMBudgetIsTheFractionOfTheCUDATotal(t *testing.T) {
	in := llama8B()
	in.FreeBytes = gib(60) // others use 19 GiB: the budget does not shrink
	in.Profile = "vllm-v1"
	r, err := Estimate(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(0.9 * float64(gib(79.19))); r.Budget != want {
		t.Errorf("budget %d, want 0.90 × the total = %d", r.Budget, want)
	}
	if r.Starts || !strings.Contains(r.Reason, "less than gpu_memory_utilization") {
		t.Errorf("V1 with 60 of 79.19 GiB free: starts=%v %q, want the free-memory refusal", r.Starts, r.Reason)
	}
	in.FreeBytes = in.TotalBytes
	if r, _ := Estimate(in); !r.Starts {
		t.Errorf("V1 on an idle GPU does not start: %s", r.Reason)
	}
}

func TestVLLMBlocksAndConcurrency(t *testing.T) {
	r, err := Estimate(llama8B())
	if err != nil {
		t.Fatal(err)
	}
	if r.KVCacheTokens%16 != 0 {
		t.Errorf("%d KV tokens are not whole blocks of 16", r.KVCacheTokens)
	}
	left := r.Budget - r.Weights - r.NonTorch - r.Activation
	if r.KVCacheBytes > left || left-r.KVCacheBytes >= 16*131072 {
		t.Errorf("KV cache %d bytes of %d available: not the largest whole number of blocks", r.KVCacheBytes, left)
	}
	if want := float64(r.KVCacheTokens) / 8192; r.MaxConcurrency != want {
		t.Errorf("max concurrency %v, want tokens / max_model_len = %v", r.MaxConcurrency, want)
	}
	// The profiling run of 8192 tokens is smaller than sampling 256
	// sequences over a 128k vocabulary: the sampler sets the peak.
	if want := int64(256 * 128256 * 38); r.Activation != want {
		t.Errorf("activation peak %d, want the sampler's %d", r.Activation, want)
	}
}

func TestVLLMActivationDoesNotShrinkWithTP(t *testing.T) {
	one, _ := Estimate(llama8B())
	in := llama8B()
	in.TensorParallel, in.NVLink = 2, true
	in.WeightBytes /= 2
	in.KVBytesPerToken /= 2
	two, err := Estimate(in)
	if err != nil {
		t.Fatal(err)
	}
	if two.Activation != one.Activation {
		t.Errorf("activation peak %d at TP2, %d at TP1: the sampler's logits are not split", two.Activation, one.Activation)
	}
	if two.NonTorch <= one.NonTorch {
		t.Errorf("non-torch memory %d at TP2 over NVLink, %d at TP1: want the all-reduce buffers", two.NonTorch, one.NonTorch)
	}
}

func TestVLLMRefusesAContextTheCacheCannotHold(t *testing.T) {
	in := llama8B()
	in.TotalBytes, in.FreeBytes = gib(23.58), gib(23.58)
	in.MaxModelLen, in.MaxNumBatchedTokens = 29000, 29000
	r, err := Estimate(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Starts || !strings.Contains(r.Reason, "max_model_len 29000") {
		t.Errorf("starts=%v %q, want the max_model_len refusal", r.Starts, r.Reason)
	}
	in.MaxModelLen, in.MaxNumBatchedTokens = 8192, 0
	in.WeightBytes = gib(30)
	if r, _ := Estimate(in); r.Starts || r.KVCacheTokens != 0 || !strings.Contains(r.Reason, "no memory for the cache blocks") {
		t.Errorf("weights above the budget: starts=%v, %d tokens, %q", r.Starts, r.KVCacheTokens, r.Reason)
	}
}

func TestVLLMDefaultBatchedTokens(t *testing.T) {
	p, _ := LookupProfile("vllm-v0-0.7")
	for maxLen, want := range map[int]int{2000: 2048, 20000: 20000, 32768: 32768, 131072: 2048} {
		if got := p.batchedTokens(maxLen); got != want {
			t.Errorf("V0, max_model_len %d: %d batched tokens, want %d", maxLen, got, want)
		}
	}
	v1, _ := LookupProfile("vllm-v1")
	for _, c := range []struct {
		gpu          string
		totalGiB     float64
		offline      bool
		tokens, seqs int
	}{
		{"NVIDIA H100 80GB HBM3", 79.18, false, 8192, 1024},
		{"NVIDIA H100 80GB HBM3", 79.18, true, 16384, 1024},
		{"NVIDIA A100-SXM4-80GB", 79.15, false, 2048, 256},
		{"NVIDIA L40S", 44.42, false, 2048, 256},
		{"NVIDIA L40S", 44.42, true, 8192, 256},
	} {
		in := v1.withDefaults(Input{GPUName: c.gpu, TotalBytes: gib(c.totalGiB), OfflineLLM: c.offline, MaxModelLen: 4096})
		if in.MaxNumBatchedTokens != c.tokens || in.MaxNumSeqs != c.seqs {
			t.Errorf("V1 on %s (offline %v): %d batched tokens and %d sequences, want %d and %d",
				c.gpu, c.offline, in.MaxNumBatchedTokens, in.MaxNumSeqs, c.tokens, c.seqs)
		}
	}
	in := v1.withDefaults(Input{GPUName: "H100", TotalBytes: gib(79.18), MaxNumBatchedTokens: 512, MaxModelLen: 512})
	if in.MaxNumSeqs != 512 {
		t.Errorf("V1 with 512 batched tokens: %d sequences, want no more than the tokens", in.MaxNumSeqs)
	}
}

func TestSGLangPoolFromFreeMemory(t *testing.T) {
	in := Input{
		Engine: SGLang, WeightBytes: gib(15), KVBytesPerToken: 131072,
		TotalBytes: gib(79.19), FreeBytes: gib(78.81), MaxModelLen: 131072,
	}
	r, err := Estimate(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Profile != "sglang-0.4" {
		t.Errorf("default profile %q, want sglang-0.4", r.Profile)
	}
	// mem_fraction_static 0.88 at TP1 of the 78.81 GiB free.
	rest := 0.88*78.81*GiB - 15*GiB - 0.15*GiB
	if want := int64(rest / 131072); r.KVCacheTokens < want-1 || r.KVCacheTokens > want {
		t.Errorf("%d KV tokens, want %d", r.KVCacheTokens, want)
	}
	in.TensorParallel = 4
	if r, _ := Estimate(in); r.Budget != int64(0.85*float64(in.FreeBytes)) {
		t.Errorf("TP4 budget %d, want mem_fraction_static 0.85 of the free memory", r.Budget)
	}
	in.TensorParallel, in.WeightBytes = 1, gib(70)
	if r, _ := Estimate(in); r.Starts || !strings.Contains(r.Reason, "mem-fraction-static") {
		t.Errorf("weights above the fraction: starts=%v %q", r.Starts, r.Reason)
	}
}

func TestEstimateRejectsBadInput(t *testing.T) {
	for name, mutate := range map[string]func(*Input){
		"neutral engine":   func(in *Input) { in.Engine = Neutral },
		"unknown profile":  func(in *Input) { in.Profile = "vllm-0.1" },
		"other's profile":  func(in *Input) { in.Profile = "sglang-0.4" },
		"no weights":       func(in *Input) { in.WeightBytes = 0 },
		"no KV per token":  func(in *Input) { in.KVBytesPerToken = 0 },
		"fraction above 1": func(in *Input) { in.MemoryFraction = 1.5 },
		"free above total": func(in *Input) { in.FreeBytes = in.TotalBytes + 1 },
		"no context":       func(in *Input) { in.MaxModelLen = 0 },
		"negative width":   func(in *Input) { in.VocabSize = -1 },
	} {
		in := llama8B()
		mutate(&in)
		if _, err := Estimate(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestProfilesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Profiles {
		if seen[p.Name] {
			t.Errorf("profile %s appears twice", p.Name)
		}
		seen[p.Name] = true
		if len(p.Sources) == 0 || p.Versions == "" {
			t.Errorf("profile %s names no versions or sources", p.Name)
		}
	}
	for _, k := range []Kind{VLLM, SGLang} {
		if p, ok := LookupProfile(DefaultProfile(k)); !ok || !p.Validated {
			t.Errorf("%s's default profile %q is not a validated one", k, DefaultProfile(k))
		}
	}
}

func TestCUDATotalIsBelowTheNameplate(t *testing.T) {
	h100, ok := LookupCUDATotal("h100-80gb")
	if !ok || h100 >= 80*GiB || h100 < 79*GiB {
		t.Errorf("H100 CUDA total %d, want 79.19 GiB", h100)
	}
	if _, ok := LookupCUDATotal("tpu"); ok {
		t.Error("an unlisted GPU has a CUDA total")
	}
	for _, g := range CUDATotals {
		if g.Source == "" || g.GiB <= 0 {
			t.Errorf("%s: no figure or source", g.GPU)
		}
	}
}

// SGLang starts whenever its pool holds one token, even when that is less
// than one request of max_model_len: the estimate then says so, rather than
// answering "fits" for a context that no request can reach.
func TestSGLangWarnsWhenOneRequestOutgrowsThePool(t *testing.T) {
	in := Input{
		Engine: SGLang, WeightBytes: gib(15), KVBytesPerToken: 131072,
		TotalBytes: gib(23.99), FreeBytes: gib(23.5), MaxModelLen: 131072,
	}
	r, err := Estimate(in)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Starts || r.KVCacheTokens >= 131072 {
		t.Fatalf("starts=%v with %d tokens, want a start with a pool below 131072", r.Starts, r.KVCacheTokens)
	}
	want := fmt.Sprintf("the KV pool holds %d tokens, less than one request of max_model_len 131072: "+
		"SGLang starts, but no request reaches that context", r.KVCacheTokens)
	if len(r.Warnings) != 1 || r.Warnings[0] != want {
		t.Errorf("warnings %q, want [%q]", r.Warnings, want)
	}
	in.MaxModelLen = 4096
	if r, _ := Estimate(in); len(r.Warnings) != 0 {
		t.Errorf("a pool that holds the context: warnings %q, want none", r.Warnings)
	}
}
