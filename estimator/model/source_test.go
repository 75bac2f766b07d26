package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// decodeSource decodes a `model:` block strictly, as the targets file is.
func decodeSource(t *testing.T, doc string) (ModelSource, error) {
	t.Helper()
	var v struct {
		Model ModelSource `yaml:"model"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	err := dec.Decode(&v)
	return v.Model, err
}

func TestModelSourceResolve(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	data, err := catalogFS.ReadFile("catalog/models/phi-3-mini.json")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(base, "phi3"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(base, "phi3", "config.json"), data, 0o644))

	tests := []struct {
		name       string
		doc        string
		wantName   string
		wantString string
		wantParams int64
		known      bool
	}{
		{"preset", "model: {preset: llama-2-7b}", "llama-2-7b", "llama-2-7b", 6_738_415_616, true},
		{"bare count", "model: {parameters: 70B}", "70B", "70B", 70_000_000_000, false},
		{"bare count as a float", "model: {parameters: 7.24e9}", "7.24B", "7.24B", 7_240_000_000, false},
		// Relative to the targets file's directory; phi-3-mini's published
		// count is 3,821,079,552 (microsoft/Phi-3-mini-4k-instruct).
		{"relative hf_config", "model: {hf_config: phi3/config.json}", "phi3/config.json", "phi3/config.json", 3_821_079_552, true},
		// GPT-2 small spelled out inline: 124,439,808 (REFERENCES.md §4).
		{"inline architecture", `model:
  architecture:
    model_type: gpt2
    n_embd: 768
    n_layer: 12
    n_head: 12
    n_positions: 1024
    vocab_size: 50257`, "gpt2 architecture", "gpt2 architecture", 124_439_808, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := decodeSource(t, tc.doc)
			require.NoError(t, err)
			assert.Equal(t, tc.wantString, src.String())
			m, err := src.Resolve(base)
			require.NoError(t, err)
			assert.Equal(t, tc.wantName, m.Name)
			assert.Equal(t, tc.wantParams, m.Parameters)
			assert.Equal(t, tc.known, m.KnownArchitecture)
			if !tc.known {
				assert.Equal(t, m.Parameters, m.ActiveParameters)
				assert.Zero(t, m.Layers)
			}
		})
	}
}

func TestModelSourceAbsoluteHFConfig(t *testing.T) {
	t.Parallel()
	path, err := filepath.Abs(filepath.Join("testdata", "models", "bad", "unknown-model-type.json"))
	require.NoError(t, err)
	_, err = ModelSource{HFConfig: path}.Resolve(t.TempDir())
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.Contains(t, err.Error(), path+`: model_type "mamba" is not supported`)
}

func TestModelSourceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"nothing set", "model: {}", "set one of preset, parameters, architecture or hf_config"},
		{"two set", "model: {preset: gpt2, parameters: 124M}",
			"preset and parameters are set; set exactly one of preset, parameters, architecture or hf_config"},
		{"unknown preset", "model: {preset: gpt5}", `unknown model preset "gpt5"; did you mean gpt2?`},
		{"inline architecture without model_type", "model: {architecture: {hidden_size: 8}}",
			"model_type is required; supported: cohere, deepseek_v2, deepseek_v3, gemma, gemma2, gemma3, gemma3_text, gpt2, gpt_oss, granite, kimi_k2, llama, llama4, llama4_text, mistral, mistral3, mixtral, olmo2, phi, phi3, phimoe, qwen2, qwen2_moe, qwen3, qwen3_moe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := decodeSource(t, tc.doc)
			require.NoError(t, err)
			_, err = src.Resolve("")
			require.ErrorIs(t, err, ErrInvalidModel)
			assert.EqualError(t, err, tc.want)
		})
	}
}

// TestModelSourceStrictYAML checks what a strict decoder rejects before
// Resolve: a misspelt key and a bad count, each with its line.
func TestModelSourceStrictYAML(t *testing.T) {
	t.Parallel()
	_, err := decodeSource(t, "model:\n  architecture:\n    model_type: llama\n    hidden_sise: 8\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 4: field hidden_sise not found")

	_, err = decodeSource(t, "model:\n  parameters: 0\n")
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.Contains(t, err.Error(), `line 2: parameters: parameter count "0" must be greater than 0`)
}

func TestModelSourceUnparsedCount(t *testing.T) {
	t.Parallel()
	_, err := ModelSource{Parameters: -5}.Resolve("")
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.EqualError(t, err, "parameter count -5: want more than 0 and at most 1e15")
}
