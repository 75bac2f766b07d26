package model

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allocated runs f and returns the bytes it allocated. The tests that call
// it are not parallel: no parallel test runs beside a sequential one, so the
// count is f's own.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const mib = 1 << 20

// Hostile model files: a config.json of 100 MB is refused unread; one nested past encoding/json's depth limit is refused
// with its position; a safetensors header whose length field claims 99 MB
// of a 100-byte file is refused before anything that size is allocated.
func TestHostileModelFiles(t *testing.T) {
	dir := t.TempDir()

	t.Run("config.json of 100 MB", func(t *testing.T) {
		path := filepath.Join(dir, "huge", "config.json")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(100e6)) // sparse: 100 MB of zeros, written in no time
		require.NoError(t, f.Close())
		var loadErr error
		used := allocated(func() { _, loadErr = LoadHFConfig(path) })
		require.ErrorIs(t, loadErr, ErrInvalidModel)
		assert.EqualError(t, loadErr, path+" is larger than the 4 MiB limit for this file")
		assert.LessOrEqual(t, used, uint64(mib), "refused unread: allocated %.1f MiB", float64(used)/mib)
	})

	t.Run("config.json nested 100,000 deep", func(t *testing.T) {
		path := filepath.Join(dir, "deep", "config.json")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(`{"model_type": `+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+"}"), 0o644))
		var loadErr error
		used := allocated(func() { _, loadErr = LoadHFConfig(path) })
		require.ErrorIs(t, loadErr, ErrInvalidModel)
		assert.EqualError(t, loadErr, path+":1:10015: invalid character '[' exceeded max depth")
		assert.LessOrEqual(t, used, uint64(16*mib), "allocated %.1f MiB", float64(used)/mib)
	})

	t.Run("safetensors header length of 99 MB in a 100-byte file", func(t *testing.T) {
		file := withLength(safetensorsBytes(`{"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}`, 30), 99e6)
		var readErr error
		used := allocated(func() { _, readErr = ReadSafetensorsHeader(bytes.NewReader(file), int64(len(file))) })
		require.ErrorIs(t, readErr, ErrInvalidModel)
		assert.EqualError(t, readErr, fmt.Sprintf("header length 99000000 runs past the end of the %d-byte file", len(file)))
		assert.LessOrEqual(t, used, uint64(mib), "allocated %.1f MiB", float64(used)/mib)
	})

	t.Run("truncated shard beside its config", func(t *testing.T) {
		full := safetensorsBytes(`{"w": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 32]}}`, 32)
		model := modelDir(t, map[string][]byte{"model.safetensors": full[:len(full)-10]})
		_, err := LoadHFConfig(filepath.Join(model, "config.json"))
		require.ErrorIs(t, err, ErrInvalidModel)
		assert.EqualError(t, err, model+`/model.safetensors: tensor "w": data_offsets [0, 32] are outside the 22-byte data buffer`)
	})
}
