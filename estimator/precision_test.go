package estimator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vramfit/vramfit/estimator/model"
)

func TestDTypeBits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bits float64
	}{
		// A bare int4 is what GPTQ and AWQ checkpoints carry: per group of 128
		// weights a 16-bit scale and a 4-bit zero.
		{"fp32", 32}, {"bf16", 16}, {"fp16", 16}, {"fp8", 8}, {"int8", 8}, {"int4", 4 + 20.0/128},
		// QLoRA (Dettmers et al., 2023), §2: NF4 with one fp32 constant per
		// 64 weights is 4 + 32/64 = 4.5 bits per parameter.
		{"nf4", 4.5},
		// QLoRA §3: double quantisation stores the constants in 8 bits
		// (blocksize 256), 8/64 + 32/(64·256) = 0.127 bits per parameter.
		{"nf4-dq", 4.126953125},
		// llama.cpp ggml-common.h block sizes: Q8_0 34 bytes per 32 weights,
		// Q6_K 210 per 256, Q4_0 18 per 32.
		{"q8_0", 8.5}, {"q6_k", 6.5625}, {"q4_0", 4.5}, {"q4_1", 5}, {"q5_0", 5.5},
		// llama.cpp tools/quantize/README.md, Llama-3.1-8B: Q4_K_M 4.8944,
		// Q5_K_M 5.7036 bits per weight over the whole file.
		{"q4_k_m", 4.8944}, {"q5_k_m", 5.7036},
		// Aliases.
		{"bfloat16", 16}, {"float32", 32}, {"FP16", 16}, {"fp8_e4m3", 8}, {"Q4_K_M", 4.8944},
	}
	for _, tc := range tests {
		d, err := LookupDType(tc.name)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.bits, d.Bits, tc.name)
	}
	// The paper rounds double quantisation to 4.127 bits.
	assert.InDelta(t, 4.127, model.NF4DoubleQuantBits, 0.0005)
	// "saving 0.373 bits per parameter" against 4.5 (QLoRA §3).
	assert.InDelta(t, 0.373, model.NF4Bits-model.NF4DoubleQuantBits, 0.0005)
}

func TestDTypeRoles(t *testing.T) {
	t.Parallel()
	_, err := LookupDType("q3")
	assert.EqualError(t, err, `unknown "q3"; valid: `+joinNames(dtypeNames(roleWeights)))
	// The KV cache takes floats, fp8, int8 and llama.cpp's q8_0/q4_0 cache types.
	for _, ok := range []string{"fp16", "fp8", "int8", "q8_0", "q4_0"} {
		_, err := lookupDType(ok, roleKVCache)
		assert.NoError(t, err, ok)
	}
	_, err = lookupDType("q4_k_m", roleKVCache)
	assert.EqualError(t, err, `"q4_k_m" is not a format for the KV cache; valid: fp32, bf16, fp16, fp8, int8, q8_0, q4_0`)
	// Gradients and trained weights are floating point; optimizer states may be 8-bit.
	_, err = lookupDType("int8", roleGradients)
	assert.EqualError(t, err, `"int8" is not a format for gradients; valid: fp32, bf16, fp16`)
	_, err = lookupDType("int8", roleOptimizer)
	assert.NoError(t, err)
	// DTypes lists the widest first.
	all := DTypes()
	require.NotEmpty(t, all)
	assert.Equal(t, "fp32", all[0].Name)
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
