package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresets(t *testing.T) {
	t.Parallel()
	list := Presets()
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
		assert.Equal(t, p.Name, p.Model.Name)
		assert.NotEmpty(t, p.Description, p.Name)
		assert.NotEmpty(t, p.Source, p.Name)
		assert.Equal(t, strings.ToLower(p.Name), p.Name, "preset names are lowercase")
		assert.NotContains(t, p.Name, "_", "preset names use dashes")
	}
	assert.Equal(t, []string{
		"deepseek-r1", "deepseek-v3", "gemma-2b", "gemma-3-12b", "gemma-3-27b", "gemma-7b", "gpt-3-175b",
		"gpt-oss-120b", "gpt-oss-20b", "gpt2", "grok-1", "llama-2-13b", "llama-2-70b", "llama-2-7b",
		"llama-3-70b", "llama-3-8b", "llama-3.1-405b", "llama-3.1-70b", "llama-3.1-8b", "llama-3.3-70b",
		"llama-4-maverick", "llama-4-scout", "mistral-7b", "mistral-small-24b", "mixtral-8x7b", "phi-3-mini", "phi-4", "qwen2.5-72b", "qwen2.5-7b",
		"qwen3-235b-a22b", "qwen3-30b-a3b", "qwen3-32b", "qwen3-8b",
	}, names)
	assert.True(t, slices.IsSorted(names))

	// Every catalog file is a preset: nothing is embedded and forgotten.
	entries, err := catalogFS.ReadDir("catalog/models")
	require.NoError(t, err)
	for _, e := range entries {
		assert.Contains(t, names, strings.TrimSuffix(e.Name(), ".json"))
	}
}

// TestPresetsAreCopies checks that a caller cannot change the catalog.
func TestPresetsAreCopies(t *testing.T) {
	t.Parallel()
	m, err := LookupPreset("gpt2")
	require.NoError(t, err)
	m.Decoder[0].Linears[0].Out = -1
	Presets()[0].Model.Decoder[0].Linears[0].Out = -1

	again, err := LookupPreset("gpt2")
	require.NoError(t, err)
	assert.Equal(t, 2304, again.Decoder[0].Linears[0].Out)
	assert.Positive(t, Presets()[0].Model.Decoder[0].Linears[0].Out)
}

func TestLookupPreset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		want    string
		wantErr string
	}{
		{name: "llama-3-70b", want: "llama-3-70b"},
		{name: " Llama-3-70B ", want: "llama-3-70b"},
		{name: "llama3-70b", wantErr: `unknown model preset "llama3-70b"; did you mean llama-3-70b?`},
		{name: "Llama_3_70B", wantErr: `unknown model preset "Llama_3_70B"; did you mean llama-3-70b?`},
		{name: "mixtral-8x7", wantErr: `unknown model preset "mixtral-8x7"; did you mean mixtral-8x7b?`},
		{name: "llama-3-7b", wantErr: `unknown model preset "llama-3-7b"; did you mean llama-2-7b or llama-3-70b or llama-3-8b?`},
		{name: "qwen", wantErr: `unknown model preset "qwen"; did you mean qwen2.5-72b or qwen2.5-7b or qwen3-235b-a22b or ` +
			`qwen3-30b-a3b or qwen3-32b or qwen3-8b?`},
		{name: "falcon-40b", wantErr: `unknown model preset "falcon-40b"; known presets: deepseek-r1, deepseek-v3, gemma-2b, ` +
			`gemma-3-12b, gemma-3-27b, gemma-7b, gpt-3-175b, gpt-oss-120b, gpt-oss-20b, gpt2, grok-1, llama-2-13b, llama-2-70b, ` +
			`llama-2-7b, llama-3-70b, llama-3-8b, llama-3.1-405b, llama-3.1-70b, llama-3.1-8b, llama-3.3-70b, llama-4-maverick, ` +
			`llama-4-scout, mistral-7b, ` +
			`mistral-small-24b, mixtral-8x7b, phi-3-mini, phi-4, qwen2.5-72b, qwen2.5-7b, qwen3-235b-a22b, qwen3-30b-a3b, ` +
			`qwen3-32b, qwen3-8b`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := LookupPreset(tc.name)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidModel)
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, m.Name)
		})
	}
}
