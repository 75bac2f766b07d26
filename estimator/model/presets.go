package model

import (
	"embed"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// catalogFS holds one Hugging Face config.json per preset, stored verbatim so
// that a preset goes through the same code as an hf_config.
//
//go:embed catalog/models/*.json
var catalogFS embed.FS

// Preset is a well-known model of the embedded catalog.
type Preset struct {
	Name        string
	Description string
	// Source says where the values come from.
	Source string
	Model  Model
}

// presetEntry is one line of the catalog: a config file under
// catalog/models/<name>.json, or a bare parameter count for models whose
// architecture is not public.
type presetEntry struct {
	name, description, source string
	parameters                ParameterCount
	// vision completes a config copy that lacks its vision_config.
	vision *VisionConfig
}

// llama4Vision is the vision tower of Llama 4 Scout and Maverick, as
// printed with Scout's config in a public model table: the copies of their
// config.json in the catalog lack vision_config (docs/model-sources.md).
var llama4Vision = &VisionConfig{HiddenSize: 1408, IntermediateSize: 5632, NumHiddenLayers: 34, NumAttentionHeads: 16,
	ImageSize: 336, PatchSize: 14, NumChannels: 3, VisionOutputDim: 4096, ProjectorInputDim: 4096, ProjectorOutputDim: 4096}

var catalog = []presetEntry{
	{name: "llama-2-7b", description: "Meta Llama 2 7B", source: "config.json of meta-llama/Llama-2-7b-hf"},
	{name: "llama-2-13b", description: "Meta Llama 2 13B", source: "config.json of meta-llama/Llama-2-13b-hf"},
	{name: "llama-2-70b", description: "Meta Llama 2 70B (grouped-query attention)", source: "config.json of meta-llama/Llama-2-70b-hf"},
	{name: "llama-3-8b", description: "Meta Llama 3 8B", source: "config.json of meta-llama/Meta-Llama-3-8B"},
	{name: "llama-3-70b", description: "Meta Llama 3 70B", source: "config.json of meta-llama/Meta-Llama-3-70B"},
	{name: "llama-3.1-8b", description: "Meta Llama 3.1 8B (128k context)", source: "config.json of meta-llama/Llama-3.1-8B"},
	{name: "llama-3.1-70b", description: "Meta Llama 3.1 70B (128k context)", source: "config.json of meta-llama/Llama-3.1-70B"},
	{name: "llama-3.1-405b", description: "Meta Llama 3.1 405B (128k context)", source: "config.json of meta-llama/Llama-3.1-405B"},
	{name: "llama-3.3-70b", description: "Meta Llama 3.3 70B Instruct (128k context)", source: "config.json of meta-llama/Llama-3.3-70B-Instruct"},
	{name: "qwen3-8b", description: "Qwen3 8B (q/k norms)", source: "config.json of Qwen/Qwen3-8B"},
	{name: "qwen3-32b", description: "Qwen3 32B", source: "config.json of Qwen/Qwen3-32B"},
	{name: "qwen3-30b-a3b", description: "Qwen3 30B-A3B (128 experts, 8 per token)", source: "config.json of Qwen/Qwen3-30B-A3B"},
	{name: "qwen3-235b-a22b", description: "Qwen3 235B-A22B (128 experts, 8 per token)", source: "config.json of Qwen/Qwen3-235B-A22B"},
	{name: "deepseek-v3", description: "DeepSeek-V3 671B (MLA, 256 experts, 8 per token; FP8 checkpoint)", source: "config.json of deepseek-ai/DeepSeek-V3"},
	{name: "deepseek-r1", description: "DeepSeek-R1 671B (DeepSeek-V3's architecture)", source: "config.json of deepseek-ai/DeepSeek-R1"},
	{name: "gpt-oss-20b", description: "OpenAI gpt-oss-20b (MXFP4 experts, 128-token window on half the layers)", source: "config.json of openai/gpt-oss-20b"},
	{name: "gpt-oss-120b", description: "OpenAI gpt-oss-120b (MXFP4 experts, 128-token window on half the layers)", source: "config.json of openai/gpt-oss-120b"},
	{name: "gemma-3-12b", description: "Google Gemma 3 12B (vision; 5 sliding layers to 1 global)", source: "config.json of google/gemma-3-12b-it, reconstructed (docs/model-sources.md)"},
	{name: "gemma-3-27b", description: "Google Gemma 3 27B (vision; 5 sliding layers to 1 global)", source: "config.json of google/gemma-3-27b-it, reconstructed (docs/model-sources.md)"},
	{name: "mistral-small-24b", description: "Mistral Small 3.1 24B (vision)", source: "config.json of mistralai/Mistral-Small-3.1-24B-Instruct-2503, reconstructed (docs/model-sources.md)"},
	{name: "phi-4", description: "Microsoft Phi-4 14B", source: "config.json of microsoft/phi-4"},
	{name: "llama-4-scout", description: "Meta Llama 4 Scout 17B-16E (chunked attention on 3 of 4 layers, 16 experts; vision)",
		source: "config.json of meta-llama/Llama-4-Scout-17B-16E-Instruct without vision_config, which the catalog adds", vision: llama4Vision},
	{name: "llama-4-maverick", description: "Meta Llama 4 Maverick 17B-128E (MoE every other layer, 128 experts; vision)",
		source: "config.json of meta-llama/Llama-4-Maverick-17B-128E-Instruct without vision_config, which the catalog adds", vision: llama4Vision},
	{name: "mistral-7b", description: "Mistral 7B v0.1 (4096-token sliding window)", source: "config.json of mistralai/Mistral-7B-v0.1"},
	{name: "mixtral-8x7b", description: "Mixtral 8x7B v0.1 (8 experts, 2 per token)", source: "config.json of mistralai/Mixtral-8x7B-v0.1"},
	{name: "qwen2.5-7b", description: "Qwen2.5 7B Instruct", source: "config.json of Qwen/Qwen2.5-7B-Instruct"},
	{name: "qwen2.5-72b", description: "Qwen2.5 72B Instruct", source: "config.json of Qwen/Qwen2.5-72B-Instruct"},
	{name: "gemma-2b", description: "Google Gemma 2B (multi-query attention)", source: "config.json of google/gemma-2b"},
	{name: "gemma-7b", description: "Google Gemma 7B", source: "config.json of google/gemma-7b"},
	{name: "phi-3-mini", description: "Microsoft Phi-3-mini 4k Instruct (3.8B)", source: "config.json of microsoft/Phi-3-mini-4k-instruct"},
	{name: "gpt2", description: "OpenAI GPT-2 small (124M)", source: "config.json of openai-community/gpt2"},
	{name: "gpt-3-175b", description: "OpenAI GPT-3 175B (parameter count only)", parameters: 175_000_000_000,
		source: "Brown et al. 2020, \"Language Models are Few-Shot Learners\", Table 2.1: 175.0B; no exact count is published"},
	{name: "grok-1", description: "xAI Grok-1 314B mixture of experts (parameter count only)", parameters: 314_000_000_000,
		source: "xAI's Grok-1 open release: 314B parameters; no exact count is published"},
}

// presets builds the catalog once. A catalog that does not build is a bug
// of this package, which its tests catch, not an input error.
var presets = sync.OnceValue(func() []Preset {
	out := make([]Preset, 0, len(catalog))
	for _, e := range catalog {
		m, err := e.model()
		if err != nil {
			panic(fmt.Sprintf("embedded model catalog: %v", err))
		}
		out = append(out, Preset{Name: e.name, Description: e.description, Source: e.source, Model: m})
	}
	slices.SortFunc(out, func(a, b Preset) int { return strings.Compare(a.Name, b.Name) })
	return out
})

func (e presetEntry) model() (Model, error) {
	if e.parameters != 0 {
		m := e.parameters.model()
		m.Name = e.name
		return m, nil
	}
	path := "catalog/models/" + e.name + ".json"
	data, err := catalogFS.ReadFile(path)
	if err != nil {
		return Model{}, err
	}
	arch, err := parseHFConfig(path, data)
	if err != nil {
		return Model{}, err
	}
	if e.vision != nil {
		arch.VisionConfig = e.vision
	}
	return arch.Model(e.name)
}

// Presets returns the catalog sorted by name, for `--list-models`.
func Presets() []Preset {
	list := presets()
	out := make([]Preset, len(list))
	for i, p := range list {
		p.Model.Decoder = cloneLayers(p.Model.Decoder)
		out[i] = p
	}
	return out
}

// LookupPreset returns the Model of a preset by name (case does not matter).
// An unknown name is an error that suggests close names, or lists them all.
func LookupPreset(name string) (Model, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	for _, p := range presets() {
		if p.Name == key {
			p.Model.Decoder = cloneLayers(p.Model.Decoder)
			return p.Model, nil
		}
	}
	var names []string
	for _, p := range presets() {
		names = append(names, p.Name)
	}
	if suggestions := CloseNames(key, names); len(suggestions) > 0 {
		return Model{}, invalidf("unknown model preset %.64q; did you mean %s?", name, strings.Join(suggestions, " or "))
	}
	return Model{}, invalidf("unknown model preset %.64q; known presets: %s", name, strings.Join(names, ", "))
}

// CloseNames returns the names a mistyped one most likely meant: the one
// equal to it once punctuation is dropped (llama3-70b, Llama_3_70B), else
// those the fewest edits away (at most two), else those that contain it
// (qwen → qwen2.5-7b).
func CloseNames(typed string, names []string) []string {
	key := alphanumeric(typed)
	if key == "" || len(key) > 64 {
		return nil
	}
	const farthest = 2
	best, bestDistance := []string(nil), farthest
	for _, name := range names {
		switch d := editDistance(key, alphanumeric(name)); {
		case d == 0:
			return []string{name}
		case d < bestDistance || (d == bestDistance && best == nil):
			best, bestDistance = []string{name}, d
		case d == bestDistance:
			best = append(best, name)
		}
	}
	if len(best) > 0 || len(key) < 4 {
		return best
	}
	for _, name := range names {
		if strings.Contains(alphanumeric(name), key) {
			best = append(best, name)
		}
	}
	return best
}

func alphanumeric(s string) string {
	return strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, strings.ToLower(s))
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
