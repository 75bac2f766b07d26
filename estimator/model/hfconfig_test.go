package model

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadHFConfigBad reads one broken config.json per failure; each message
// names the file, and the line and column or the field.
func TestLoadHFConfigBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want string
	}{
		{"not-json.json", "testdata/models/bad/not-json.json:3:23: invalid character ',' looking for beginning of object key string"},
		{"truncated.json", "testdata/models/bad/truncated.json:3:22: unexpected end of JSON input"},
		{"not-an-object.json", "testdata/models/bad/not-an-object.json:1:1: got array, want a JSON object"},
		{"wrong-type.json", "testdata/models/bad/wrong-type.json:3:23: field hidden_size: got string, want an integer"},
		{"wrong-bool.json", "testdata/models/bad/wrong-bool.json:4:29: field tie_word_embeddings: got string, want true or false"},
		{"huge-number.json", "testdata/models/bad/huge-number.json:1:70: field num_hidden_layers: got number 1e30, want an integer"},
		{"unknown-model-type.json", `testdata/models/bad/unknown-model-type.json: model_type "mamba" is not supported; supported: cohere, deepseek_v2, deepseek_v3, gemma, gemma2, gemma3, gemma3_text, gpt2, gpt_oss, granite, kimi_k2, llama, llama4, llama4_text, mistral, mistral3, mixtral, olmo2, phi, phi3, phimoe, qwen2, qwen2_moe, qwen3, qwen3_moe`},
		{"bad-kv-heads.json", "testdata/models/bad/bad-kv-heads.json: num_key_value_heads 5 must divide num_attention_heads 32"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			_, err := LoadHFConfig(filepath.Join("testdata", "models", "bad", tc.file))
			require.ErrorIs(t, err, ErrInvalidModel)
			assert.EqualError(t, err, tc.want)
		})
	}
}

func TestParseHFConfigWithoutPath(t *testing.T) {
	t.Parallel()
	_, err := ParseHFConfig([]byte("{\n  \"model_type\": \"llama\"\n  \"hidden_size\": 1\n}"))
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.EqualError(t, err, "line 3, column 3: invalid character '\"' after object key:value pair")
}

func TestLoadHFConfigFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	_, err := LoadHFConfig(filepath.Join(dir, "missing.json"))
	require.ErrorIs(t, err, ErrInvalidModel)
	require.ErrorIs(t, err, fs.ErrNotExist)

	big := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(big, []byte(`{"model_type": "llama", "x": "`+strings.Repeat("a", maxConfigBytes)+`"}`), 0o644))
	_, err = LoadHFConfig(big)
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.EqualError(t, err, big+" is larger than the 4 MiB limit for this file")
}

// TestLoadHFConfigMatchesPreset reads a catalog config.json from disk, by
// its path and by its directory: the same Model as the preset, named by the
// path, with no checkpoint since no weights lie beside it.
func TestLoadHFConfigMatchesPreset(t *testing.T) {
	t.Parallel()
	data, err := catalogFS.ReadFile("catalog/models/mixtral-8x7b.json")
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	preset, err := LookupPreset("mixtral-8x7b")
	require.NoError(t, err)

	for _, p := range []string{path, dir} {
		m, err := LoadHFConfig(p)
		require.NoError(t, err)
		assert.Equal(t, path, m.Name)
		assert.Nil(t, m.Checkpoint)
		m.Name = preset.Name
		assert.Equal(t, preset, m)
	}
}

// FuzzParseHFConfig: no panic; a config that builds has positive, bounded
// counts with active ≤ total, and shapes that agree with its linears.
func FuzzParseHFConfig(f *testing.F) {
	entries, err := catalogFS.ReadDir("catalog/models")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := catalogFS.ReadFile("catalog/models/" + e.Name())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	real, err := filepath.Glob(filepath.Join("testdata", "models", "hf", "*", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	bad, err := filepath.Glob(filepath.Join("testdata", "models", "bad", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(real, bad...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"model_type":"gpt2","n_embd":8,"n_layer":1,"n_head":2,"n_positions":4,"vocab_size":3}`))
	f.Add([]byte(`{"model_type":"mixtral","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,` +
		`"num_attention_heads":2,"vocab_size":3,"num_local_experts":4,"num_experts_per_tok":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		arch, err := ParseHFConfig(data)
		if err != nil {
			return
		}
		m, err := arch.Model("fuzz")
		if err != nil {
			return
		}
		if m.Parameters <= 0 || m.Parameters > MaxParameters {
			t.Fatalf("parameters %d outside (0, 1e15]", m.Parameters)
		}
		if m.ActiveParameters <= 0 || m.ActiveParameters > m.Parameters {
			t.Fatalf("active parameters %d outside (0, %d]", m.ActiveParameters, m.Parameters)
		}
		if m.Layers <= 0 || m.KVHeads <= 0 || m.HeadDim <= 0 || m.Heads%m.KVHeads != 0 {
			t.Fatalf("bad shape: %d layers, %d heads, %d kv heads, head_dim %d", m.Layers, m.Heads, m.KVHeads, m.HeadDim)
		}
		if m.EmbeddingParameters <= 0 || m.LayerParameters <= 0 {
			t.Fatalf("bad parts: embedding %d, layer %d", m.EmbeddingParameters, m.LayerParameters)
		}
		if len(m.Decoder) != m.Layers {
			t.Fatalf("%d layers described for %d", len(m.Decoder), m.Layers)
		}
		for i, layer := range m.Decoder {
			if layer.KVValues(1) <= 0 || layer.Window < 0 || layer.Parameters <= 0 || layer.ActiveParameters > layer.Parameters {
				t.Fatalf("bad layer %d: %+v", i, layer)
			}
			for _, l := range layer.Linears {
				if l.In <= 0 || l.Out <= 0 || l.Count <= 0 {
					t.Fatalf("bad linear %+v", l)
				}
			}
		}
	})
}

// BenchmarkParseHFConfig measures a config.json decoded and built into a
// Model, the work done per hf_config target at each configuration load.
func BenchmarkParseHFConfig(b *testing.B) {
	data, err := catalogFS.ReadFile("catalog/models/llama-3.1-405b.json")
	require.NoError(b, err)
	for b.Loop() {
		arch, err := ParseHFConfig(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := arch.Model("bench"); err != nil {
			b.Fatal(err)
		}
	}
}
