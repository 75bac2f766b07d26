package estimator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vramfit/vramfit/estimator/model"
)

// DType is a number format: of weights, the KV cache, gradients or
// optimizer states. Bits is the average storage per element including the
// quantisation constants (scales, block minima), so that bytes = elements ×
// Bits / 8.
type DType struct {
	Name string
	Bits float64
	// Float marks the formats that training can keep weights and gradients
	// in, and in which activations are computed.
	Float bool
	// Whole marks formats whose Bits already average over every tensor of a
	// checkpoint (llama.cpp's file types), embeddings included; for the other
	// quantised formats embeddings and norms stay in 16 bits.
	Whole bool
	// Source says where Bits comes from.
	Source string
}

// quantized reports whether the format is narrower than 16 bits, where
// loaders keep embeddings, norms and biases in 16 bits.
func (d DType) quantized() bool { return d.Bits < 16 }

// bytesFor is the storage of n elements in bytes (fractional: callers round
// once, at the end).
func (d DType) bytesFor(n float64) float64 { return n * d.Bits / 8 }

// int4Bits is a bare int4 precision: what int4 checkpoints carry (GPTQ,
// AWQ), group size 128 with its scales and zeros.
var int4Bits = model.GroupBits(4, model.DefaultGroupSize, true)

const (
	srcIEEE      = "IEEE 754 / bfloat16 storage size"
	srcFP8       = "FP8 formats E4M3 and E5M2 (Micikevicius et al., 2022): one byte per element"
	srcInt       = "integer storage size; per-channel scales are negligible"
	srcInt4      = "weight-only int4 as GPTQ and AWQ checkpoints store it: per group of 128 weights a 16-bit scale and a 4-bit zero, 4 + 20/128 bits"
	srcQLoRA     = "Dettmers et al., 2023 (QLoRA), §2: NF4 with blocksize-64 fp32 constants = 4.5 bits"
	srcQLoRADQ   = "Dettmers et al., 2023 (QLoRA), §3 double quantisation: 4 + 8/64 + 32/(64·256) ≈ 4.127 bits"
	srcGGMLBlock = "llama.cpp ggml-common.h: bytes per block / weights per block"
	srcGGUFMix   = "llama.cpp tools/quantize/README.md: measured bits per weight of the whole Llama-3.1-8B file"
)

// dtypes lists every known format by canonical name.
var dtypes = []DType{
	{Name: "fp32", Bits: 32, Float: true, Source: srcIEEE},
	{Name: "bf16", Bits: 16, Float: true, Source: srcIEEE},
	{Name: "fp16", Bits: 16, Float: true, Source: srcIEEE},
	{Name: "fp8", Bits: 8, Source: srcFP8},
	{Name: "int8", Bits: 8, Source: srcInt},
	{Name: "int4", Bits: int4Bits, Source: srcInt4},
	{Name: "nf4", Bits: model.NF4Bits, Source: srcQLoRA},
	{Name: "nf4-dq", Bits: model.NF4DoubleQuantBits, Source: srcQLoRADQ},
	// llama.cpp block formats (one tensor type throughout).
	{Name: "q8_0", Bits: 8.5, Whole: true, Source: srcGGMLBlock + " 34/32"},
	{Name: "q6_k", Bits: 6.5625, Whole: true, Source: srcGGMLBlock + " 210/256"},
	{Name: "q5_1", Bits: 6, Whole: true, Source: srcGGMLBlock + " 24/32"},
	{Name: "q5_0", Bits: 5.5, Whole: true, Source: srcGGMLBlock + " 22/32"},
	{Name: "q4_1", Bits: 5, Whole: true, Source: srcGGMLBlock + " 20/32"},
	{Name: "q4_0", Bits: 4.5, Whole: true, Source: srcGGMLBlock + " 18/32"},
	{Name: "iq4_nl", Bits: 4.5, Whole: true, Source: srcGGMLBlock + " 18/32"},
	{Name: "mxfp4", Bits: 4.25, Whole: true, Source: srcGGMLBlock + " 17/32"},
	// llama.cpp file types that mix tensor types (attn_v, ffn_down and the
	// output at a wider type): their measured average.
	{Name: "q5_k_m", Bits: 5.7036, Whole: true, Source: srcGGUFMix},
	{Name: "q5_k_s", Bits: 5.5704, Whole: true, Source: srcGGUFMix},
	{Name: "q4_k_m", Bits: 4.8944, Whole: true, Source: srcGGUFMix},
	{Name: "q4_k_s", Bits: 4.6672, Whole: true, Source: srcGGUFMix},
	{Name: "iq4_xs", Bits: 4.4597, Whole: true, Source: srcGGUFMix},
	{Name: "q3_k_l", Bits: 4.2979, Whole: true, Source: srcGGUFMix},
	{Name: "q3_k_s", Bits: 3.6429, Whole: true, Source: srcGGUFMix},
	{Name: "q2_k", Bits: 3.1593, Whole: true, Source: srcGGUFMix},
	{Name: "iq2_m", Bits: 2.9294, Whole: true, Source: srcGGUFMix},
	{Name: "iq1_s", Bits: 2.0042, Whole: true, Source: srcGGUFMix},
}

// dtypeAliases maps other common spellings to canonical names.
var dtypeAliases = map[string]string{
	"float32": "fp32", "f32": "fp32",
	"bfloat16": "bf16",
	"float16":  "fp16", "f16": "fp16", "half": "fp16",
	"fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "e4m3": "fp8", "e5m2": "fp8",
	"nf4_dq": "nf4-dq",
}

// dtypeRole is what a format is used for; each role allows a subset.
type dtypeRole int

const (
	roleWeights dtypeRole = iota
	roleTrainingWeights
	roleKVCache
	roleGradients
	roleOptimizer
	roleAdapter
)

// allowed reports whether d may be used in the role.
func (r dtypeRole) allowed(d DType) bool {
	switch r {
	case roleWeights:
		return true
	case roleKVCache:
		return d.Float || d.Name == "fp8" || d.Name == "int8" || d.Name == "q8_0" || d.Name == "q4_0"
	case roleOptimizer:
		return d.Float || d.Name == "int8"
	default: // training weights, gradients and adapters are floating point
		return d.Float
	}
}

// LookupDType returns a format by name (case-insensitive, aliases allowed).
func LookupDType(name string) (DType, error) {
	return lookupDType(name, roleWeights)
}

func lookupDType(name string, role dtypeRole) (DType, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if canonical, ok := dtypeAliases[key]; ok {
		key = canonical
	}
	for _, d := range dtypes {
		if d.Name != key {
			continue
		}
		if role.allowed(d) {
			return d, nil
		}
		return DType{}, fmt.Errorf("%q is not a format for %s; valid: %s", name, role, strings.Join(dtypeNames(role), ", "))
	}
	return DType{}, fmt.Errorf("unknown %q; valid: %s", name, strings.Join(dtypeNames(role), ", "))
}

// String names what a format in the role holds, for an error message.
func (r dtypeRole) String() string {
	switch r {
	case roleTrainingWeights:
		return "trained weights"
	case roleKVCache:
		return "the KV cache"
	case roleGradients:
		return "gradients"
	case roleOptimizer:
		return "optimizer states"
	case roleAdapter:
		return "LoRA adapters"
	default:
		return "weights"
	}
}

// DTypes returns every known format, widest first.
func DTypes() []DType {
	out := append([]DType(nil), dtypes...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bits > out[j].Bits })
	return out
}

// dtypeNames lists the canonical names a role accepts.
func dtypeNames(role dtypeRole) []string {
	var names []string
	for _, d := range dtypes {
		if role.allowed(d) {
			names = append(names, d.Name)
		}
	}
	return names
}

// safetensorsDTypes maps safetensors dtype names to formats, to name the
// precision of a checkpoint read from disk.
var safetensorsDTypes = map[string]string{
	"F32": "fp32", "BF16": "bf16", "F16": "fp16",
	"F8_E4M3": "fp8", "F8_E5M2": "fp8", "I8": "int8", "U8": "int8",
}
