package estimator

import (
	"fmt"
	"strings"

	"github.com/vramfit/vramfit/estimator/engine"
)

// Engine names the software that runs a target. The estimate follows its
// own memory accounting (DESIGN.md § Engines): vLLM and SGLang serve
// (package estimator/engine), torchtune, Hugging Face's Trainer with PEFT
// and bitsandbytes, and DeepSpeed train (trainingEngines). The default is
// the engine-neutral model of docs/estimator.md.
type Engine string

// The engines.
const (
	EngineNeutral   Engine = "neutral"
	EngineVLLM      Engine = "vllm"
	EngineSGLang    Engine = "sglang"
	EngineTorchtune Engine = "torchtune"
	EngineHF        Engine = "hf"
	EngineDeepSpeed Engine = "deepspeed"
)

var engines = []Engine{EngineNeutral, EngineVLLM, EngineSGLang, EngineTorchtune, EngineHF, EngineDeepSpeed}

// serves reports whether the engine is an inference server.
func (g Engine) serves() bool {
	switch g {
	case EngineVLLM, EngineSGLang:
		return true
	case EngineNeutral, EngineTorchtune, EngineHF, EngineDeepSpeed, "":
		return false
	}
	panic(fmt.Sprintf("estimator: engine %q passed validation but is not classified", g))
}

// enginesFor lists the engines that run a workload.
func enginesFor(w Workload) []string {
	var out []string
	for _, g := range engines {
		if g == EngineNeutral || g.serves() == (w == Inference) {
			out = append(out, string(g))
		}
	}
	return out
}

// validateEngine checks the engine against the workload and the settings
// that only some engines read.
func (t Target) validateEngine() []fieldError {
	g := Engine(orDefault(string(t.Engine), string(EngineNeutral)))
	if !contains(enumNames(engines), string(g)) {
		return nil // already reported as unknown
	}
	w := t.workload()
	if !contains(enginesFor(w), string(g)) {
		return []fieldError{fieldErrorf("engine", "%s does not run the %s workload; valid for %s: %s",
			g, w, w, strings.Join(enginesFor(w), ", "))}
	}
	var errs []fieldError
	if g != EngineNeutral && t.Method == RuleOfThumb {
		errs = append(errs, fieldErrorf("engine", "%s has its own accounting; the rule-of-thumb method follows the seed article's rules only (use engine neutral or method detailed)", g))
	}
	for _, f := range []struct {
		field string
		set   bool
	}{{"max_num_seqs", t.MaxNumSeqs != 0}, {"nvlink", t.NVLink != nil}, {"block_size", t.BlockSize != 0}, {"enforce_eager", t.EnforceEager}} {
		if f.set && !g.serves() {
			errs = append(errs, fieldErrorf(f.field, "applies to the serving engines vllm and sglang, not %s", g))
		}
	}
	valid := engineProfiles(g, w)
	switch p := t.EngineProfile; {
	case p == "":
	case len(valid) == 0:
		errs = append(errs, fieldErrorf("engine_profile", "engine %s has no profiles for the %s workload", g, w))
	case !contains(valid, p):
		errs = append(errs, fieldErrorf("engine_profile", "%q is not a profile of engine %s; valid: %s",
			trimForError(p), g, strings.Join(valid, ", ")))
	}
	return errs
}

// engineProfiles lists the profiles (ranges of versions) of an engine for
// a workload: package engine's for a serving engine, trainingProfiles' for
// a training one; the neutral engine serves with none.
func engineProfiles(g Engine, w Workload) []string {
	if g.serves() {
		var out []string
		for _, p := range engine.Profiles {
			if string(p.Engine) == string(g) {
				out = append(out, p.Name)
			}
		}
		return out
	}
	if w == Inference {
		return nil
	}
	return trainingProfileNames(g)
}
