package engine_test

import (
	"bufio"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/engine"
	"github.com/vramfit/vramfit/estimator/model"
)

// record is one startup log of testdata/records.tsv.
type record struct {
	f map[string]string
}

func (r record) s(k string) string { return r.f[k] }

func (r record) known(k string) bool { return r.f[k] != "-" && r.f[k] != "" }

func (r record) num(t *testing.T, k string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(r.f[k], 64)
	if err != nil {
		t.Fatalf("record %s: column %s: %v", r.s("id"), k, err)
	}
	return v
}

func (r record) int(t *testing.T, k string) int { return int(r.num(t, k)) }

func loadRecords(t *testing.T) []record {
	t.Helper()
	file, err := os.Open("testdata/records.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var header []string
	var out []record
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, "\t")
		if header == nil {
			header = cells
			continue
		}
		if len(cells) != len(header) {
			t.Fatalf("record %q has %d columns, the header %d", cells[0], len(cells), len(header))
		}
		r := record{f: map[string]string{}}
		for i, h := range header {
			r.f[h] = cells[i]
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// modelFigures is what the estimator gives the engine accounting for one
// record: the rule the integrator applies to a target.
type modelFigures struct {
	weights, kvPerToken int64
	hidden, mlp, vocab  int
}

// tested says whether a record's KV cache ("yes") or only its start or
// refusal ("start") is held to the log.
func (r record) tested() bool { return r.s("kv_tested") == "yes" || r.s("kv_tested") == "start" }

// figures are a record's model figures: from the estimator for a preset or
// a config.json, or, for a family the estimator does not compute yet
// ("hand:hidden=..,mlp=..,vocab=.."), the weights the engine logged and the
// KV bytes per token worked out by hand in the notes.
func figures(t *testing.T, r record) modelFigures {
	t.Helper()
	ref := r.s("model_ref")
	if spec, ok := strings.CutPrefix(ref, "hand:"); ok {
		return handFigures(t, r, spec)
	}
	var src model.ModelSource
	switch {
	case strings.HasPrefix(ref, "preset:"):
		src.Preset = strings.TrimPrefix(ref, "preset:")
	case strings.HasPrefix(ref, "config:"):
		src.HFConfig = "testdata/models/" + strings.TrimPrefix(ref, "config:")
	default:
		t.Fatalf("record %s: model_ref %q names no model", r.s("id"), ref)
	}
	precision := "bf16"
	if p := r.s("precision"); p == "int8" || p == "fp8" {
		precision = p
	}
	tp, pp := r.int(t, "tp"), r.int(t, "pp")
	e, err := estimator.Estimate(estimator.Target{
		Name: r.s("id"), Model: src, Workload: estimator.Inference, Precision: precision,
		TensorParallel: tp, PipelineParallel: pp, Context: 1024, Batch: 1,
	})
	if err != nil {
		t.Fatalf("record %s: %v", r.s("id"), err)
	}
	m := e.Model()
	// KV per token on one GPU: K and V of every layer of the stage, with
	// the KV heads one GPU holds (vLLM replicates a head past their count).
	layers := (m.Layers + pp - 1) / pp
	heads := max(1, (m.KVHeads+tp-1)/tp)
	mlp := m.IntermediateSize * max(1, m.ExpertsPerToken)
	return modelFigures{
		weights:    e.Requirement().Weights,
		kvPerToken: int64(2 * layers * heads * m.HeadDim * 2),
		hidden:     m.HiddenSize, mlp: mlp, vocab: m.VocabSize,
	}
}

func handFigures(t *testing.T, r record, spec string) modelFigures {
	t.Helper()
	id := r.s("id")
	if r.s("weights_src") != "logged" {
		t.Fatalf("record %s: hand figures take the weights from the log (weights_src logged)", id)
	}
	m := modelFigures{weights: int64(r.num(t, "w_gib") * engine.GiB), kvPerToken: int64(r.num(t, "kv_bytes"))}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("record %s: hand figure %q", id, kv)
		}
		switch k {
		case "hidden":
			m.hidden = n
		case "mlp":
			m.mlp = n
		case "vocab":
			m.vocab = n
		default:
			t.Fatalf("record %s: unknown hand figure %q", id, k)
		}
	}
	if m.hidden == 0 || m.mlp == 0 || m.vocab == 0 {
		t.Fatalf("record %s: hand figures need hidden, mlp and vocab", id)
	}
	return m
}

// input builds the engine input of a tested record from the model's figures
// and the run's settings: never from the logged KV cache.
func input(t *testing.T, r record, m modelFigures) engine.Input {
	t.Helper()
	in := engine.Input{
		Engine: engine.Kind(r.s("engine")), Profile: r.s("profile"),
		WeightBytes: m.weights, KVBytesPerToken: m.kvPerToken,
		HiddenSize: m.hidden, MLPWidth: m.mlp, VocabSize: m.vocab,
		TensorParallel: r.int(t, "tp"), PipelineParallel: r.int(t, "pp"),
		NVLink:         r.s("nvlink") == "yes",
		GPUName:        r.s("gpu"),
		MemoryFraction: r.num(t, "fraction"),
		MaxModelLen:    r.int(t, "max_model_len"),
	}
	if r.s("weights_src") == "logged" {
		in.WeightBytes = int64(r.num(t, "w_gib") * engine.GiB)
	}
	if r.known("block") {
		in.BlockSize = r.int(t, "block")
	}
	switch in.Engine {
	case engine.VLLM:
		// The log's total; an idle GPU: all of it free.
		in.TotalBytes = int64(r.num(t, "total_gib") * engine.GiB)
		in.FreeBytes = in.TotalBytes
		if r.known("max_seqs") {
			in.MaxNumSeqs = r.int(t, "max_seqs")
		}
		if r.s("batched_src") != "default" {
			in.MaxNumBatchedTokens = r.int(t, "batched")
		}
	case engine.SGLang:
		// SGLang sizes its pool from the memory free at init alone.
		in.FreeBytes = int64(r.num(t, "free_gib") * engine.GiB)
		in.TotalBytes = in.FreeBytes
	}
	return in
}

// outcome is a tested record's prediction beside its log.
type outcome struct {
	r         record
	res       engine.Result
	logged    float64 // KV tokens the engine logged; -1 where only the start is tested
	ratio     float64 // predicted / logged tokens; 0 where there is none
	hasRatio  bool
	startsLog bool
}

// outcomes runs the accounting on every tested record.
func outcomes(t *testing.T) []outcome {
	t.Helper()
	var out []outcome
	for _, r := range loadRecords(t) {
		if !r.tested() {
			continue
		}
		in := input(t, r, figures(t, r))
		res, err := engine.Estimate(in)
		if err != nil {
			t.Fatalf("record %s: %v", r.s("id"), err)
		}
		o := outcome{r: r, res: res, logged: -1, startsLog: r.s("starts") == "yes"}
		if r.s("kv_tested") == "yes" {
			o.logged = r.num(t, "kv_tokens")
			if o.logged > 0 {
				o.ratio, o.hasRatio = float64(res.KVCacheTokens)/o.logged, true
			}
		}
		out = append(out, o)
	}
	return out
}

func TestRecordsTable(t *testing.T) {
	recs := loadRecords(t)
	ids := map[string]bool{}
	count := map[string]int{}
	for _, r := range recs {
		id := r.s("id")
		if ids[id] {
			t.Errorf("record %s appears twice", id)
		}
		ids[id] = true
		if !strings.HasPrefix(r.s("source"), "https://") {
			t.Errorf("record %s: source %q is not a public address", id, r.s("source"))
		}
		p, ok := engine.LookupProfile(r.s("profile"))
		if !ok || string(p.Engine) != r.s("engine") {
			t.Errorf("record %s: profile %q is not one of %s's", id, r.s("profile"), r.s("engine"))
		}
		switch r.s("kv_tested") {
		case "yes", "start", "no":
		default:
			t.Errorf("record %s: kv_tested %q, want yes, start or no", id, r.s("kv_tested"))
		}
		if r.tested() && !p.Validated {
			t.Errorf("record %s tests profile %s, which the table calls unvalidated", id, p.Name)
		}
		if r.s("kv_tested") == "yes" && !r.known("kv_tokens") {
			t.Errorf("record %s is tested but logs no KV tokens", id)
		}
		if !r.tested() {
			continue
		}
		e := r.s("engine")
		count[e]++
		if r.int(t, "tp") > 1 {
			count[e+" tp>1"]++
			if r.s("nvlink") == "yes" {
				count[e+" nvlink"]++
			}
		}
		if p.Engine == engine.VLLM && p.FreeCheck {
			count["vllm-v1"]++
		}
		if strings.Contains(r.s("notes"), "nearly full") {
			count[e+" full"]++
		}
	}
	t.Logf("tested: %d vLLM (%d V1, %d TP>1, %d over NVLink, %d nearly full), %d SGLang (%d TP>1, %d nearly full)",
		count["vllm"], count["vllm-v1"], count["vllm tp>1"], count["vllm nvlink"], count["vllm full"],
		count["sglang"], count["sglang tp>1"], count["sglang full"])
	for _, want := range []struct {
		key string
		min int
	}{{"vllm", 20}, {"vllm-v1", 5}, {"vllm tp>1", 4}, {"vllm nvlink", 3}, {"vllm full", 4}, {"sglang", 5}} {
		if count[want.key] < want.min {
			t.Errorf("%d tested records of kind %q, want at least %d", count[want.key], want.key, want.min)
		}
	}
}

// TestTokensFollowFromTheLog holds the table to itself: KV tokens counted in
// blocks are whole blocks, and tokens worked out from the logged KV GiB are
// floor(GiB / (block × KV bytes per token)) × block.
func TestTokensFollowFromTheLog(t *testing.T) {
	for _, r := range loadRecords(t) {
		if r.s("kv_tested") != "yes" || r.s("engine") != string(engine.VLLM) {
			continue
		}
		block := 16
		if r.known("block") {
			block = r.int(t, "block")
		}
		tokens := int64(r.num(t, "kv_tokens"))
		if tokens%int64(block) != 0 {
			t.Errorf("record %s: %d KV tokens are not whole blocks of %d", r.s("id"), tokens, block)
		}
		if r.s("tokens_src") == "from-kv-gib" {
			per := figures(t, r).kvPerToken
			want := int64(math.Floor(r.num(t, "kv_gib")*engine.GiB/float64(int64(block)*per))) * int64(block)
			if tokens != want {
				t.Errorf("record %s: %d KV tokens, but %.2f GiB in blocks of %d x %d B hold %d",
					r.s("id"), tokens, r.num(t, "kv_gib"), block, per, want)
			}
		}
	}
}

// TestKVCacheTokensMatchLogs predicts each tested record's KV cache from the
// model (weights and KV bytes per token from the estimator) and the run's
// settings, and holds it to the tokens the engine logged: within 5% on every
// record, the median within 2%, and the same start or refusal.
func TestKVCacheTokensMatchLogs(t *testing.T) {
	var devs []float64
	byEngine := map[engine.Kind][]float64{}
	for _, o := range outcomes(t) {
		r, res, id := o.r, o.res, o.r.s("id")
		if r.s("batched_src") == "default" {
			in := input(t, r, figures(t, r))
			p, _ := engine.LookupProfile(in.Profile)
			if got, want := engine.WithDefaults(p, in).MaxNumBatchedTokens, r.int(t, "batched"); got != want {
				t.Errorf("record %s: default max_num_batched_tokens %d, the run used %d", id, got, want)
			}
		}
		if res.Starts != o.startsLog {
			t.Errorf("record %s: starts = %v (%s), the log says %v", id, res.Starts, res.Reason, o.startsLog)
		}
		if o.logged == 0 && res.KVCacheTokens != 0 {
			t.Errorf("record %s: %d KV tokens, the engine allocated none", id, res.KVCacheTokens)
		}
		if !o.hasRatio {
			continue
		}
		t.Logf("record %s: %d KV tokens predicted, %.0f logged, ratio %.4f", id, res.KVCacheTokens, o.logged, o.ratio)
		if math.Abs(o.ratio-1) > 0.05 {
			t.Errorf("record %s: predicted %d KV tokens, logged %.0f (ratio %.4f, want within 5%%)",
				id, res.KVCacheTokens, o.logged, o.ratio)
		}
		devs = append(devs, math.Abs(o.ratio-1))
		byEngine[res.Engine] = append(byEngine[res.Engine], math.Abs(o.ratio-1))
		if r.known("concurrency") {
			if c := r.num(t, "concurrency"); math.Abs(res.MaxConcurrency-c) > 0.05*c {
				t.Errorf("record %s: maximum concurrency %.2f, logged %.2f", id, res.MaxConcurrency, c)
			}
		}
	}
	if len(devs) == 0 {
		t.Fatal("no tested record")
	}
	for _, set := range []struct {
		name string
		d    []float64
	}{{"all", devs}, {"vllm", byEngine[engine.VLLM]}, {"sglang", byEngine[engine.SGLang]}} {
		if m := median(set.d); m > 0.02 {
			t.Errorf("%s: median KV token deviation %.2f%%, want at most 2%%", set.name, 100*m)
		}
	}
}

// TestActivationPeakMatchesLogs holds the profiling run's modelled peak to
// the one vLLM logged, within 15%: it is what makes the KV cache track
// max_num_batched_tokens and the vocabulary rather than the tensor-parallel
// degree.
func TestActivationPeakMatchesLogs(t *testing.T) {
	checked := 0
	for _, r := range loadRecords(t) {
		if !r.tested() || r.s("engine") != string(engine.VLLM) || !r.known("act_gib") {
			continue
		}
		res, err := engine.Estimate(input(t, r, figures(t, r)))
		if err != nil {
			t.Fatal(err)
		}
		logged := r.num(t, "act_gib") * engine.GiB
		ratio := float64(res.Activation) / logged
		t.Logf("record %s: activation peak %.2f GiB, logged %.2f, ratio %.3f", r.s("id"), engine.GiBF(res.Activation),
			r.num(t, "act_gib"), ratio)
		if math.Abs(ratio-1) > 0.15 {
			t.Errorf("record %s: activation peak %.2f GiB, logged %.2f (ratio %.3f)", r.s("id"),
				engine.GiBF(res.Activation), r.num(t, "act_gib"), ratio)
		}
		checked++
	}
	if checked < 5 {
		t.Errorf("%d records checked, want at least 5", checked)
	}
}

// TestWeightsMatchLogs holds the estimator's weights per GPU to what the
// engines logged loading, within 3%, for every record whose model the
// estimator knows.
func TestWeightsMatchLogs(t *testing.T) {
	checked := 0
	for _, r := range loadRecords(t) {
		ref := r.s("model_ref")
		if !r.known("model_ref") || r.s("weights_src") != "model" || !r.known("w_gib") {
			continue
		}
		m := figures(t, r)
		logged := r.num(t, "w_gib")
		ratio := float64(m.weights) / engine.GiB / logged
		t.Logf("record %s (%s): weights %.2f GiB, logged %.2f, ratio %.4f", r.s("id"), ref,
			float64(m.weights)/engine.GiB, logged, ratio)
		if math.Abs(ratio-1) > 0.03 {
			t.Errorf("record %s: weights %.2f GiB, logged %.2f (ratio %.4f, want within 3%%)",
				r.s("id"), float64(m.weights)/engine.GiB, logged, ratio)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("%d records checked, want at least 10", checked)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
