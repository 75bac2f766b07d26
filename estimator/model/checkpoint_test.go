package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tinyConfig = `{"model_type": "llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
	"num_attention_heads": 2, "vocab_size": 10}`

// Two shards: 10×8 BF16 embeddings (160 bytes) + 8 F32 norm weights (32
// bytes); an 8×16 F8_E4M3 matrix (128 bytes) + 16 F32 scales (64 bytes).
var (
	shardA = safetensorsBytes(`{"embed.weight": {"dtype": "BF16", "shape": [10, 8], "data_offsets": [0, 160]},
		"norm.weight": {"dtype": "F32", "shape": [8], "data_offsets": [160, 192]}}`, 192)
	shardB = safetensorsBytes(`{"up.weight": {"dtype": "F8_E4M3", "shape": [16, 8], "data_offsets": [0, 128]},
		"up.scale": {"dtype": "F32", "shape": [16], "data_offsets": [128, 192]}}`, 192)
	// shardsIndex names both shards and says 384 bytes in total.
	shardsIndex = `{"metadata": {"total_size": 384}, "weight_map": {
		"embed.weight": "model-00001-of-00002.safetensors", "norm.weight": "model-00001-of-00002.safetensors",
		"up.weight": "model-00002-of-00002.safetensors", "up.scale": "model-00002-of-00002.safetensors"}}`
)

// modelDir writes config.json and the given files into a new directory.
func modelDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(tinyConfig), 0o644))
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	return dir
}

func TestLoadHFConfigCheckpoint(t *testing.T) {
	t.Parallel()
	both := &Checkpoint{Bytes: 384, Parameters: map[string]int64{"BF16": 80, "F32": 24, "F8_E4M3": 128}}
	tests := []struct {
		name  string
		files map[string][]byte
		want  *Checkpoint
	}{
		{"no weights", nil, nil},
		{"one model.safetensors", map[string][]byte{"model.safetensors": shardA},
			&Checkpoint{Bytes: 192, Parameters: map[string]int64{"BF16": 80, "F32": 8}}},
		{"model.safetensors wins over an adapter beside it",
			map[string][]byte{"model.safetensors": shardA, "adapter_model.safetensors": shardB},
			&Checkpoint{Bytes: 192, Parameters: map[string]int64{"BF16": 80, "F32": 8}}},
		{"shards without an index",
			map[string][]byte{"model-00001-of-00002.safetensors": shardA, "model-00002-of-00002.safetensors": shardB}, both},
		{"index and every shard: the headers count",
			map[string][]byte{safetensorsIndexName: []byte(shardsIndex),
				"model-00001-of-00002.safetensors": shardA, "model-00002-of-00002.safetensors": shardB}, both},
		{"index and a missing shard: total_size only",
			map[string][]byte{safetensorsIndexName: []byte(shardsIndex), "model-00001-of-00002.safetensors": shardA},
			&Checkpoint{Bytes: 384}},
		{"index without total_size, shards missing", map[string][]byte{safetensorsIndexName: []byte(
			`{"weight_map": {"w": "model-00001-of-00002.safetensors"}}`)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := modelDir(t, tc.files)
			m, err := LoadHFConfig(filepath.Join(dir, "config.json"))
			require.NoError(t, err)
			assert.Equal(t, tc.want, m.Checkpoint)
		})
	}
}

func TestLoadHFConfigCheckpointErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string][]byte
		want  string // after the directory
	}{
		{"corrupt shard", map[string][]byte{"model.safetensors": withLength(shardA, 1<<40)},
			"/model.safetensors: header length 1099511627776 exceeds the limit of 100000000 bytes"},
		{"shard outside the directory", map[string][]byte{safetensorsIndexName: []byte(
			`{"weight_map": {"w": "../model.safetensors"}}`)},
			`/model.safetensors.index.json: weight_map names "../model.safetensors": want a file name in the same directory`},
		{"total_size not a number of bytes", map[string][]byte{safetensorsIndexName: []byte(
			`{"metadata": {"total_size": 1.5}, "weight_map": {}}`)},
			"/model.safetensors.index.json: metadata.total_size 1.5: want a whole number of bytes"},
		{"index not JSON", map[string][]byte{safetensorsIndexName: []byte("{\n\"metadata\": }")},
			"/model.safetensors.index.json:2:13: invalid character '}' looking for beginning of value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := modelDir(t, tc.files)
			_, err := LoadHFConfig(filepath.Join(dir, "config.json"))
			require.ErrorIs(t, err, ErrInvalidModel)
			assert.EqualError(t, err, dir+tc.want)
		})
	}
}

// An unsupported model_type with its safetensors beside it is read from the
// headers: the weights exactly, the KV cache from the standard keys, with a
// warning that says so; without them it stays an error.
func TestLoadHFConfigUnsupportedTypeWithCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := `{"model_type": "newarch", "hidden_size": 8, "num_hidden_layers": 3, "num_attention_heads": 2,
		"num_key_value_heads": 1, "max_position_embeddings": 64}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), shardA, 0o644))

	m, err := LoadHFConfig(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(80+8), m.Parameters, "the headers' elements")
	// 3 layers of full attention, each caching K and V of 1 KV head of 8/2.
	require.Len(t, m.Decoder, 3)
	for _, l := range m.Decoder {
		assert.Equal(t, Layer{Attention: AttentionFull, KVHeads: 1, HeadDim: 4}, l)
	}
	assert.Equal(t, int64(192), m.Checkpoint.Bytes, "the weights' bytes as stored")
	assert.Equal(t, []string{`model_type "newarch" is not supported: the weights are the safetensors headers' 88 parameters; ` +
		`the KV cache assumes 3 layers of full attention with 1 KV heads of 4 values (num_key_value_heads, head_dim)`}, m.Warnings)

	require.NoError(t, os.Remove(filepath.Join(dir, "model.safetensors")))
	_, err = LoadHFConfig(dir)
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.ErrorContains(t, err, `model_type "newarch" is not supported; supported: cohere, deepseek_v2`)
}

// An hf_quant_config.json that cannot be sized names the file and the key.
func TestLoadHFConfigModelOptError(t *testing.T) {
	t.Parallel()
	dir := modelDir(t, map[string][]byte{"hf_quant_config.json": []byte(`{"quantization": {"quant_algo": "INT3"}}`)})
	_, err := LoadHFConfig(dir)
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.EqualError(t, err, filepath.Join(dir, "hf_quant_config.json")+`: quantization.quant_algo "INT3": want one of FP8, NVFP4`)
}

// An unsupported model_type read from its weights still needs the standard
// keys, and says which one is missing.
func TestLoadHFConfigUnsupportedTypeNeedsKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "newarch", "hidden_size": 8}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), shardA, 0o644))
	_, err := LoadHFConfig(dir)
	require.ErrorIs(t, err, ErrInvalidModel)
	assert.EqualError(t, err, filepath.Join(dir, "config.json")+
		`: model_type "newarch" with safetensors beside it: num_hidden_layers 0: want an integer from 1 to 67108864`)
}
