package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigShard is a safetensors file of n one-element F32 tensors: a header of
// about 70 bytes a tensor.
func bigShard(n int) []byte {
	var h strings.Builder
	h.WriteString("{")
	for i := range n {
		if i > 0 {
			h.WriteString(",")
		}
		fmt.Fprintf(&h, `"layer.%d.weight": {"dtype": "F32", "shape": [1], "data_offsets": [%d, %d]}`, i, 4*i, 4*i+4)
	}
	h.WriteString("}")
	return safetensorsBytes(h.String(), 4*n)
}

// Targets that name the same model read its safetensors headers once: 20
// loads of its config.json (as 20 targets naming it make) cost about what
// one does, where each used to read the header again.
func TestModelFilesReadOnce(t *testing.T) {
	shard := bigShard(20_000) // a 1.5 MB header
	load := func(targets int) uint64 {
		dir := modelDir(t, map[string][]byte{"model.safetensors": shard})
		var err error
		used := allocated(func() {
			for range targets {
				if _, err = LoadHFConfig(filepath.Join(dir, "config.json")); err != nil {
					return
				}
			}
		})
		require.NoError(t, err)
		return used
	}
	one, twenty := load(1), load(20)
	t.Logf("one target %.1f MiB allocated, twenty %.1f MiB", float64(one)/mib, float64(twenty)/mib)
	assert.Less(t, twenty, 2*one, "20 targets on one model allocated %.1f× what one does", float64(twenty)/float64(one))
}

// A model file written again, or replaced, is read again.
func TestModelCacheSeesChanges(t *testing.T) {
	dir := modelDir(t, map[string][]byte{"model.safetensors": shardA})
	path := filepath.Join(dir, "model.safetensors")
	m, err := LoadHFConfig(dir)
	require.NoError(t, err)
	assert.Equal(t, &Checkpoint{Bytes: 192, Parameters: map[string]int64{"BF16": 80, "F32": 8}}, m.Checkpoint)

	// Written in place, with the same size: the header is padded with
	// spaces, as the format allows.
	header := string(shardB[8 : len(shardB)-192])
	sameSize := safetensorsBytes(header+strings.Repeat(" ", len(shardA)-len(shardB)), 192)
	require.Len(t, sameSize, len(shardA))
	require.NoError(t, os.WriteFile(path, sameSize, 0o644))
	m, err = LoadHFConfig(dir)
	require.NoError(t, err)
	assert.Equal(t, &Checkpoint{Bytes: 192, Parameters: map[string]int64{"F8_E4M3": 128, "F32": 16}}, m.Checkpoint)

	// Replaced by another file renamed over it.
	next := filepath.Join(dir, "next")
	require.NoError(t, os.WriteFile(next, shardA, 0o644))
	require.NoError(t, os.Rename(next, path))
	m, err = LoadHFConfig(dir)
	require.NoError(t, err)
	assert.Equal(t, &Checkpoint{Bytes: 192, Parameters: map[string]int64{"BF16": 80, "F32": 8}}, m.Checkpoint)
}
