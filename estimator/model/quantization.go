package model

import (
	"fmt"
	"sort"
	"strings"
)

// QuantizationConfig is a config.json's quantization_config: how a
// quantised checkpoint stores its weights, by each library's own keys.
type QuantizationConfig struct {
	QuantMethod string `json:"quant_method,omitempty" yaml:"quant_method,omitempty"`
	// gptq and awq.
	Bits      int   `json:"bits,omitempty" yaml:"bits,omitempty"`
	GroupSize int   `json:"group_size,omitempty" yaml:"group_size,omitempty"`
	ZeroPoint *bool `json:"zero_point,omitempty" yaml:"zero_point,omitempty"`
	// awq writes w_bit and q_group_size in some versions.
	WBit       int `json:"w_bit,omitempty" yaml:"w_bit,omitempty"`
	QGroupSize int `json:"q_group_size,omitempty" yaml:"q_group_size,omitempty"`
	// fp8: the block of weights that share one fp32 scale.
	WeightBlockSize []int `json:"weight_block_size,omitempty" yaml:"weight_block_size,omitempty"`
	// bitsandbytes.
	LoadIn4bit            bool   `json:"load_in_4bit,omitempty" yaml:"load_in_4bit,omitempty"`
	LoadIn8bit            bool   `json:"load_in_8bit,omitempty" yaml:"load_in_8bit,omitempty"`
	Bnb4bitUseDoubleQuant bool   `json:"bnb_4bit_use_double_quant,omitempty" yaml:"bnb_4bit_use_double_quant,omitempty"`
	Bnb4bitQuantType      string `json:"bnb_4bit_quant_type,omitempty" yaml:"bnb_4bit_quant_type,omitempty"`
	// compressed-tensors: each group's weight format.
	ConfigGroups map[string]compressedGroup `json:"config_groups,omitempty" yaml:"config_groups,omitempty"`
	// Modules kept in 16 bits: fp8, awq and mxfp4 write
	// modules_to_not_convert, compressed-tensors ignore.
	ModulesToNotConvert []string `json:"modules_to_not_convert,omitempty" yaml:"modules_to_not_convert,omitempty"`
	Ignore              []string `json:"ignore,omitempty" yaml:"ignore,omitempty"`
}

// compressedGroup is one of compressed-tensors' config_groups.
type compressedGroup struct {
	Weights *struct {
		NumBits        int    `json:"num_bits,omitempty" yaml:"num_bits,omitempty"`
		Type           string `json:"type,omitempty" yaml:"type,omitempty"`
		Strategy       string `json:"strategy,omitempty" yaml:"strategy,omitempty"`
		GroupSize      int    `json:"group_size,omitempty" yaml:"group_size,omitempty"`
		Symmetric      *bool  `json:"symmetric,omitempty" yaml:"symmetric,omitempty"`
		BlockStructure []int  `json:"block_structure,omitempty" yaml:"block_structure,omitempty"`
	} `json:"weights,omitempty" yaml:"weights,omitempty"`
}

// Quantization is a quantization_config resolved to storage: the bits per
// weight of the quantised linears, scales and zeros included.
type Quantization struct {
	// Name says the format: "awq int4 g128", "fp8 block 128x128", ...
	Name string
	// Bits is the storage per weight of a quantised linear.
	Bits float64
	// ExpertsOnly: only the routed experts are quantised (gpt-oss's mxfp4);
	// attention, router and embeddings stay in 16 bits.
	ExpertsOnly bool
}

// GroupBits is the storage per weight of weight-only integer formats: b
// bits, plus per group of g weights a 16-bit scale and, with zeros, a b-bit
// zero point (GPTQ's and AWQ's qzeros).
func GroupBits(bits, group int, zeros bool) float64 {
	extra := 16.0
	if zeros {
		extra += float64(bits)
	}
	return float64(bits) + extra/float64(group)
}

const (
	// NF4Bits is bitsandbytes' NF4 with one fp32 absmax per block of 64: 4 + 32/64.
	NF4Bits = 4 + 32.0/64
	// NF4DoubleQuantBits quantises those absmax constants to 8 bits in
	// blocks of 256 with one fp32 constant each: 4 + 8/64 + 32/(64·256).
	NF4DoubleQuantBits = 4 + 8.0/64 + 32.0/(64*256)
)

// DefaultGroupSize is the group size of GPTQ and AWQ checkpoints, and of a
// bare int4 precision.
const DefaultGroupSize = 128

// quantMethods are the quant_method values this package sizes.
var quantMethods = []string{"auto-round", "awq", "bitsandbytes", "compressed-tensors", "fbgemm_fp8", "fp8", "gptq", "mxfp4"}

// resolve sizes a quantization_config; nil when there is none.
func (q *QuantizationConfig) resolve() (*Quantization, error) {
	if q == nil {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return invalidf("quantization_config: "+format, args...)
	}
	switch q.QuantMethod {
	case "gptq", "awq", "auto-round", "intel/auto-round":
		// AutoRound writes GPTQ's layout (qweight, qzeros, scales).
		bits, group := q.Bits, q.GroupSize
		if bits == 0 {
			bits, group = q.WBit, q.QGroupSize
		}
		if bits == 0 {
			bits = 4
		}
		if bits != 2 && bits != 3 && bits != 4 && bits != 8 {
			return nil, bad("bits %d: want 2, 3, 4 or 8", bits)
		}
		switch {
		case group == 0:
			group = DefaultGroupSize
		case group == -1: // one scale per output channel: negligible
			group = maxDimension
		case group < 0 || group > maxDimension:
			return nil, bad("group_size %d: want -1 or a positive integer", group)
		}
		zeros := q.QuantMethod == "gptq" || q.ZeroPoint == nil || *q.ZeroPoint
		name := fmt.Sprintf("%s int%d", q.QuantMethod, bits)
		if group != maxDimension {
			name += fmt.Sprintf(" g%d", group)
		}
		return &Quantization{Name: name, Bits: GroupBits(bits, group, zeros)}, nil
	case "fp8":
		bits, name := 8.0, "fp8"
		if len(q.WeightBlockSize) > 0 {
			if len(q.WeightBlockSize) != 2 || q.WeightBlockSize[0] < 1 || q.WeightBlockSize[1] < 1 ||
				q.WeightBlockSize[0] > maxDimension || q.WeightBlockSize[1] > maxDimension {
				return nil, bad("weight_block_size %v: want two positive integers", q.WeightBlockSize)
			}
			// One fp32 scale per block (DeepSeek-V3's weight_scale_inv).
			bits += 32 / (float64(q.WeightBlockSize[0]) * float64(q.WeightBlockSize[1]))
			name = fmt.Sprintf("fp8 block %dx%d", q.WeightBlockSize[0], q.WeightBlockSize[1])
		}
		return &Quantization{Name: name, Bits: bits}, nil
	case "fbgemm_fp8":
		// Meta's FP8 checkpoints (Llama 3.1 405B FP8): one scale per output
		// row, negligible.
		return &Quantization{Name: "fbgemm fp8", Bits: 8}, nil
	case "bitsandbytes":
		switch {
		case q.LoadIn4bit && q.Bnb4bitUseDoubleQuant:
			return &Quantization{Name: "bnb 4-bit dq", Bits: NF4DoubleQuantBits}, nil
		case q.LoadIn4bit:
			return &Quantization{Name: "bnb 4-bit", Bits: NF4Bits}, nil
		case q.LoadIn8bit:
			return &Quantization{Name: "bnb 8-bit", Bits: 8}, nil
		}
		return nil, bad("bitsandbytes without load_in_4bit or load_in_8bit: want one of them true")
	case "mxfp4":
		// 32 four-bit values share one 8-bit exponent (OCP MX spec).
		return &Quantization{Name: "mxfp4 experts", Bits: 4 + 8.0/32, ExpertsOnly: true}, nil
	case "compressed-tensors":
		return q.compressed(bad)
	case "":
		return nil, bad("quant_method is required; supported: %s", strings.Join(quantMethods, ", "))
	}
	return nil, bad("quant_method %.40q is not supported; supported: %s", q.QuantMethod, strings.Join(quantMethods, ", "))
}

// modelOptName is the file NVIDIA's TensorRT Model Optimizer writes beside
// a config.json that has no quantization_config.
const modelOptName = "hf_quant_config.json"

// modelOptConfig is the part of hf_quant_config.json this package reads.
type modelOptConfig struct {
	Quantization struct {
		QuantAlgo string `json:"quant_algo"`
	} `json:"quantization"`
}

// modelOptAlgos are the quant_algo values sized.
var modelOptAlgos = []string{"FP8", "NVFP4"}

// resolve sizes ModelOpt's quantisation: FP8 with per-tensor scales, or
// NVFP4 (4-bit values, an 8-bit scale per 16).
func (q modelOptConfig) resolve() (*Quantization, error) {
	switch q.Quantization.QuantAlgo {
	case "FP8":
		return &Quantization{Name: "modelopt fp8", Bits: 8}, nil
	case "NVFP4":
		return &Quantization{Name: "modelopt nvfp4", Bits: 4 + 8.0/16}, nil
	}
	return nil, invalidf("quantization.quant_algo %.40q: want one of %s", q.Quantization.QuantAlgo, strings.Join(modelOptAlgos, ", "))
}

// compressed sizes compressed-tensors' weight groups: the widest group
// decides, so that a mixed checkpoint is never underestimated.
func (q *QuantizationConfig) compressed(bad func(string, ...any) error) (*Quantization, error) {
	names := make([]string, 0, len(q.ConfigGroups))
	for name := range q.ConfigGroups {
		names = append(names, name)
	}
	sort.Strings(names)
	var best *Quantization
	for _, name := range names {
		w := q.ConfigGroups[name].Weights
		if w == nil {
			continue
		}
		if w.NumBits < 1 || w.NumBits > 16 {
			return nil, bad("config_groups.%s.weights.num_bits %d: want 1 to 16", name, w.NumBits)
		}
		bits := float64(w.NumBits)
		kind := w.Type
		if kind == "" {
			kind = "int"
		}
		label := fmt.Sprintf("%s%d", kind, w.NumBits)
		switch w.Strategy {
		case "group":
			if w.GroupSize < 1 || w.GroupSize > maxDimension {
				return nil, bad("config_groups.%s.weights.group_size %d: want a positive integer", name, w.GroupSize)
			}
			zeros := w.Symmetric != nil && !*w.Symmetric
			bits = GroupBits(w.NumBits, w.GroupSize, zeros)
			label += fmt.Sprintf(" g%d", w.GroupSize)
		case "tensor_group":
			// NVFP4: an FP8 scale per group (16) beside one global scale.
			if w.GroupSize < 1 || w.GroupSize > maxDimension {
				return nil, bad("config_groups.%s.weights.group_size %d: want a positive integer", name, w.GroupSize)
			}
			bits += 8 / float64(w.GroupSize)
			label += fmt.Sprintf(" g%d", w.GroupSize)
		}
		if len(w.BlockStructure) == 2 && w.BlockStructure[0] > 0 && w.BlockStructure[1] > 0 &&
			w.BlockStructure[0] <= maxDimension && w.BlockStructure[1] <= maxDimension {
			bits += 32 / (float64(w.BlockStructure[0]) * float64(w.BlockStructure[1]))
		}
		if best == nil || bits > best.Bits {
			best = &Quantization{Name: "compressed-tensors " + label, Bits: bits}
		}
	}
	if best == nil {
		return nil, bad("compressed-tensors without config_groups weights: want at least one group with weights")
	}
	return best, nil
}
