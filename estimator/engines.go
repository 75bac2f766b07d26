package estimator

import (
	"fmt"
	"strings"
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
	g := t.Engine
	if g == "" || !contains(enumNames(engines), string(g)) {
		return nil // unset, or already reported as unknown
	}
	w := t.workload()
	if !contains(enginesFor(w), string(g)) {
		return []fieldError{fieldErrorf("engine", "%s does not run the %s workload; valid for %s: %s",
			g, w, w, strings.Join(enginesFor(w), ", "))}
	}
	return nil
}
