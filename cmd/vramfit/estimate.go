package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/model"
	"github.com/vramfit/vramfit/estimator/report"
	"github.com/vramfit/vramfit/estimator/targetsfile"
)

// estimateFlags are the flags of `vramfit estimate`: a target's fields (or a
// targets file) and what to place it on.
type estimateFlags struct {
	*targetFlags
	gpu, output          string
	listModels, listGPUs bool
}

// targetFlags describe the targets of a command: a targets file, or one
// target's fields. estimate and plan share them.
type targetFlags struct {
	configFile string
	// withFile names the command's other flags that combine with
	// --config.file, for the error that rejects the rest.
	withFile string

	name, preset, hfConfig, parameters string
	loraRank, loraModules, loraDType   string
	// fields holds each target field's flag, set only when the user gave it.
	fields []fieldFlag
	// setByUser records which of the model and lora flags were given.
	setByUser map[string]*bool
}

type fieldFlag struct {
	field   estimator.TargetField
	text    string
	boolean bool
	given   bool
}

func newEstimateCommand(app *kingpin.Application) command {
	clause := app.Command("estimate", "Estimate the GPU memory a model target needs, and how many GPUs of a kind.")
	f := &estimateFlags{targetFlags: addTargetFlags(clause, "--gpu, --method and --output")}
	clause.Flag("gpu", "GPU to place the target on: a catalog name (see --list-gpus) or a size such as 80GiB or 141GB.").StringVar(&f.gpu)
	clause.Flag("output", "Output format: table or json (one object per target and line).").Default("table").EnumVar(&f.output, "table", "json")
	clause.Flag("list-models", "List the model presets and exit.").BoolVar(&f.listModels)
	clause.Flag("list-gpus", "List the GPU catalog and exit.").BoolVar(&f.listGPUs)
	return command{clause: clause, run: f.run}
}

// addTargetFlags registers --config.file and the target flags on clause;
// withFile names the clause's other flags that combine with --config.file.
func addTargetFlags(clause *kingpin.CmdClause, withFile string) *targetFlags {
	f := &targetFlags{withFile: withFile, setByUser: map[string]*bool{}}
	clause.Flag("config.file", "Targets file (YAML) to use instead of the target flags.").PlaceHolder("FILE").StringVar(&f.configFile)
	modelFlags := []struct {
		name, help string
		value      *string
	}{
		{"name", "Target name (default: the model).", &f.name},
		{"model", "Model preset (see --list-models).", &f.preset},
		{"hf-config", "A Hugging Face config.json (or its directory); safetensors beside it give the exact weight bytes.", &f.hfConfig},
		{"parameters", "A bare parameter count such as 70B or 7.24e9 (KV cache and activations are then unknown).", &f.parameters},
		{"lora-rank", "LoRA rank (default 8).", &f.loraRank},
		{"lora-modules", "Comma-separated linear modules LoRA adapts (default: all).", &f.loraModules},
		{"lora-dtype", "Format of the LoRA adapters (default fp32).", &f.loraDType},
	}
	for _, mf := range modelFlags {
		given := new(bool)
		f.setByUser[mf.name] = given
		clause.Flag(mf.name, mf.help).IsSetByUser(given).StringVar(mf.value)
	}
	fields := estimator.TargetFields()
	f.fields = make([]fieldFlag, len(fields))
	for i, field := range fields {
		ff := &f.fields[i]
		ff.field = field
		flag := clause.Flag(field.Flag(), field.Help).IsSetByUser(&ff.given)
		if field.IsBool() {
			flag.BoolVar(&ff.boolean)
		} else {
			flag.StringVar(&ff.text)
		}
	}
	return f
}

func (f *estimateFlags) run(e env) int {
	switch {
	case f.listModels:
		listModels(e.stdout)
		return 0
	case f.listGPUs:
		listGPUs(e.stdout)
		return 0
	}
	targets, err := f.targets()
	if err != nil {
		fmt.Fprintf(e.stderr, "%s estimate: %v\n", programName, err)
		return 2
	}
	var gpu *estimator.GPU
	if f.gpu != "" {
		g, err := estimator.LookupGPU(f.gpu)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s estimate: --gpu: %v\n", programName, err)
			return 2
		}
		gpu = &g
	}
	status := 0
	out := json.NewEncoder(e.stdout)
	for i, t := range targets {
		est, err := estimator.Estimate(t)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s estimate: %v\n", programName, err)
			status = 1
			continue
		}
		r := report.New(est, gpu)
		if f.output == "json" {
			// A table ends with its warnings; JSON's are also put where
			// a person reads them.
			for _, w := range r.Warnings {
				fmt.Fprintf(e.stderr, "%s estimate: %s: warning: %s\n", programName, r.Target, w)
			}
			if err := out.Encode(r); err != nil {
				fmt.Fprintf(e.stderr, "%s estimate: %v\n", programName, err)
				return 1
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		writeTable(e.stdout, r)
	}
	return status
}

// targets are the targets of --config.file, or the one the flags describe.
func (f *targetFlags) targets() ([]estimator.Target, error) {
	method, methodGiven := "", false
	var given []string
	for _, ff := range f.fields {
		if ff.given && ff.field.Key == "method" {
			method, methodGiven = ff.text, true
		} else if ff.given {
			given = append(given, "--"+ff.field.Flag())
		}
	}
	for name, set := range f.setByUser {
		if *set {
			given = append(given, "--"+name)
		}
	}
	sort.Strings(given)
	if f.configFile != "" {
		if len(given) > 0 {
			return nil, fmt.Errorf("--config.file takes the targets from the file; drop %s (only %s combine with it)",
				strings.Join(given, ", "), f.withFile)
		}
		targets, err := targetsfile.Load(f.configFile)
		if err != nil {
			return nil, err
		}
		if methodGiven {
			for i := range targets {
				targets[i].Method = estimator.Method(method)
			}
		}
		return targets, nil
	}
	t, err := f.target()
	if err != nil {
		return nil, err
	}
	return []estimator.Target{t}, nil
}

// target builds a target from the flags, through the same field parsers as
// the targets file.
func (f *targetFlags) target() (estimator.Target, error) {
	var t estimator.Target
	var err error
	switch {
	case f.preset != "":
		t.Model.Preset = f.preset
	case f.hfConfig != "":
		t.Model.HFConfig = f.hfConfig
	case f.parameters != "":
		if t.Model.Parameters, err = model.ParseParameterCount(f.parameters); err != nil {
			return t, fmt.Errorf("--parameters: %w", err)
		}
	default:
		return t, fmt.Errorf("give a model (--model, --hf-config or --parameters) or --config.file; --list-models shows the presets")
	}
	if n := countNonEmpty(f.preset, f.hfConfig, f.parameters); n > 1 {
		return t, fmt.Errorf("give one of --model, --hf-config and --parameters, not %d", n)
	}
	t.Name = f.name
	if t.Name == "" {
		t.Name = t.Model.String()
	}
	for _, ff := range f.fields {
		if !ff.given {
			continue
		}
		value := ff.text
		if ff.field.IsBool() {
			value = fmt.Sprint(ff.boolean)
		}
		if err := ff.field.Set(&t, value); err != nil {
			return t, fmt.Errorf("--%s: %w", ff.field.Flag(), err)
		}
	}
	for _, lf := range []struct {
		flag, value string
		set         func(*estimator.Target, string) error
	}{
		{"lora-rank", f.loraRank, estimator.SetLoRARank},
		{"lora-modules", f.loraModules, estimator.SetLoRAModules},
		{"lora-dtype", f.loraDType, estimator.SetLoRADType},
	} {
		if *f.setByUser[lf.flag] {
			if err := lf.set(&t, lf.value); err != nil {
				return t, fmt.Errorf("--%s: %w", lf.flag, err)
			}
		}
	}
	return t, nil
}

func countNonEmpty(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

// billions writes a parameter count with its exact value.
func billions(n int64) string { return fmt.Sprintf("%.2fB (%d)", float64(n)/1e9, n) }

// gib writes bytes in GiB with two decimals.
func gib(b int64) string { return fmt.Sprintf("%.2f", float64(b)/(1<<30)) }

// writeTable prints one report for a reader: each component in GiB per GPU,
// the total, the GPU count and the verdict, then the assumptions.
func writeTable(w io.Writer, r report.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	fmt.Fprintf(tw, "model\t%s: %s, %s, %s weights\n", r.Model, r.Workload, r.Method, r.Precision)
	engine := string(r.Engine)
	if p := r.Assumptions.EngineProfile; p != "" && p != engine {
		engine += " (" + p + ")"
	}
	fmt.Fprintf(tw, "engine\t%s\n", engine)
	params := billions(r.Parameters)
	if r.ParametersActive != r.Parameters {
		params += fmt.Sprintf(" (%s active per token)", billions(r.ParametersActive))
	}
	if r.ParametersVision > 0 {
		params += fmt.Sprintf("; vision tower %s included", billions(r.ParametersVision))
	}
	if r.ParametersNextToken > 0 {
		params += fmt.Sprintf("; multi-token-prediction layers %s apart, not loaded", billions(r.ParametersNextToken))
	}
	fmt.Fprintf(tw, "parameters\t%s\n", params)
	shape := fmt.Sprintf("context %d, batch %d", r.Context, r.Batch)
	if r.KVCacheBytesPerToken != nil && r.Workload == estimator.Inference {
		shape += fmt.Sprintf("; KV cache %s, %d bytes per token", r.KVCacheDType, *r.KVCacheBytesPerToken)
	}
	fmt.Fprintf(tw, "sequences\t%s\n", shape)
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "per GPU\tGiB\n")
	rows := []struct {
		name  string
		value *int64
		shown bool
	}{
		{"weights", r.PerGPUBytes.Weights, true},
		{"kv_cache", r.PerGPUBytes.KVCache, r.Workload == estimator.Inference},
		{"activations", r.PerGPUBytes.Activations, true},
		{"gradients", r.PerGPUBytes.Gradients, r.Workload != estimator.Inference},
		{"optimizer", r.PerGPUBytes.Optimizer, r.Workload != estimator.Inference},
		{"overhead", r.PerGPUBytes.Overhead, r.Method == estimator.Detailed},
		{"total", r.PerGPUBytes.Total, true},
	}
	for _, row := range rows {
		switch {
		case !row.shown:
		case row.value == nil:
			fmt.Fprintf(tw, "  %s\tunknown\n", row.name)
		default:
			fmt.Fprintf(tw, "  %s\t%s\n", row.name, gib(*row.value))
		}
	}
	if r.PerGPUBytes.Host > 0 {
		fmt.Fprintf(tw, "  host memory (not in total)\t%s\n", gib(r.PerGPUBytes.Host))
	}
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "gpus\t%s\n", verdict(r))
	if r.KVCacheTokens > 0 {
		fmt.Fprintf(tw, "engine KV cache\t%d tokens per replica; maximum concurrency %.2f at context %d\n", r.KVCacheTokens, r.MaxConcurrency, r.Context)
	}
	switch {
	case r.MaxBatch == nil || r.MaxContext == nil || *r.MaxBatch == 0 && *r.MaxContext == 0:
		// Unknown, or nothing fits: the verdict above says which.
	case r.KVCacheTokens > 0: // a serving engine's longest context is one request's
		fmt.Fprintf(tw, "limits\tmax batch %d at context %d; max context %d for one request\n", *r.MaxBatch, r.Context, *r.MaxContext)
	default:
		fmt.Fprintf(tw, "limits\tmax batch %d at context %d; max context %d at batch %d\n", *r.MaxBatch, r.Context, *r.MaxContext, r.Batch)
	}
	a := r.Assumptions
	assumptions := fmt.Sprintf("flash_attention=%t memory_utilization=%.2f overhead=%s GiB", a.FlashAttention, a.MemoryUtilization, gib(a.OverheadBytes))
	if r.Workload == estimator.Inference {
		assumptions += fmt.Sprintf(" max_batched_tokens=%d", a.MaxBatchedTokens)
	} else {
		assumptions += fmt.Sprintf(" recompute=%s sequence_parallel=%t optimizer=%s/%s gradients=%s",
			a.Recompute, a.SequenceParallel, a.Optimizer, a.OptimizerDType, a.GradientDType)
		if a.OptimizerInBackward {
			assumptions += " optimizer_in_backward=true"
		}
		if a.Offload != estimator.OffloadNone {
			assumptions += " offload=" + string(a.Offload)
		}
	}
	if a.LoRAParameters > 0 {
		assumptions += fmt.Sprintf(" lora_rank=%d lora_parameters=%d", a.LoRARank, a.LoRAParameters)
	}
	if a.NVLink != nil {
		assumptions += fmt.Sprintf(" nvlink=%t (%s)", *a.NVLink, a.NVLinkFrom)
	}
	fmt.Fprintf(tw, "assumptions\t%s\n", assumptions)
	for _, warning := range r.Warnings {
		fmt.Fprintf(tw, "warning\t%s\n", warning)
	}
}

// verdict says how many GPUs the target takes and whether it fits.
func verdict(r report.Report) string {
	layout := r.Layout.String()
	switch {
	case r.GPU == nil:
		return fmt.Sprintf("%d in the target's own layout (%s); give --gpu to count the GPUs of a kind", r.GPUs, layout)
	case *r.GPUsRequired == 0:
		return fmt.Sprintf("DOES NOT FIT: %s (the parts above are those of the target's own layout: %s)", r.UnfitReason, layout)
	}
	s := fmt.Sprintf("FITS on %d × %s (%s, %s GiB each)", *r.GPUsRequired, r.GPU.Name, layout, gib(r.GPU.MemoryBytes))
	if len(r.Chosen) > 0 {
		s += fmt.Sprintf("; chosen, as the target leaves them open: %s", strings.Join(r.Chosen, ", "))
	}
	if r.ReplicasPerGPU > 1 {
		s += fmt.Sprintf("; %d copies fit on one", r.ReplicasPerGPU)
	}
	return s
}

func listModels(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "PRESET\tPARAMETERS\tDESCRIPTION")
	for _, p := range model.Presets() {
		fmt.Fprintf(tw, "%s\t%.2fB\t%s\n", p.Name, float64(p.Model.Parameters)/1e9, p.Description)
	}
}

func listGPUs(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "GPU\tMEMORY_BYTES\tGIB\tALIASES")
	for _, g := range estimator.GPUs() {
		aliases := strings.Join(estimator.GPUAliases(g.Name), ", ")
		if aliases == "" {
			aliases = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", g.Name, g.MemoryBytes, gib(g.MemoryBytes), aliases)
	}
}
