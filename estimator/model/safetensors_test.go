package model

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// safetensorsBytes lays out a safetensors file: the header's length, the
// header, then dataBytes zero bytes of tensor data.
func safetensorsBytes(header string, dataBytes int) []byte {
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	buf = append(buf, header...)
	return append(buf, make([]byte, dataBytes)...)
}

// withLength replaces the header length of a file.
func withLength(file []byte, length uint64) []byte {
	out := bytes.Clone(file)
	binary.LittleEndian.PutUint64(out, length)
	return out
}

func TestReadSafetensorsHeader(t *testing.T) {
	t.Parallel()
	// 2×3 BF16 = 12 bytes, then 5 F4 elements would not fill bytes, so 4 F4
	// = 2 bytes, an empty tensor, and a scalar F32 = 4 bytes: 18 in all.
	header := `{"__metadata__": {"format": "pt"},
		"b.weight": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]},
		"a.packed": {"dtype": "F4", "shape": [4], "data_offsets": [12, 14]},
		"c.empty": {"dtype": "F32", "shape": [0, 7], "data_offsets": [14, 14]},
		"d.scale": {"dtype": "F32", "shape": [], "data_offsets": [14, 18]}}  `
	file := safetensorsBytes(header, 18)
	h, err := ReadSafetensorsHeader(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"format": "pt"}, h.Metadata)
	assert.Equal(t, int64(18), h.DataBytes)
	assert.Equal(t, []SafetensorsTensor{
		{Name: "b.weight", DType: "BF16", Shape: []int64{2, 3}, Elements: 6, Begin: 0, End: 12},
		{Name: "a.packed", DType: "F4", Shape: []int64{4}, Elements: 4, Begin: 12, End: 14},
		{Name: "c.empty", DType: "F32", Shape: []int64{0, 7}, Elements: 0, Begin: 14, End: 14},
		{Name: "d.scale", DType: "F32", Shape: []int64{}, Elements: 1, Begin: 14, End: 18},
	}, h.Tensors)

	counts := map[string]int64{}
	h.elementsByDType(counts)
	assert.Equal(t, map[string]int64{"BF16": 6, "F4": 4, "F32": 1}, counts)
}

// TestReadSafetensorsHeaderHostile feeds files whose header lies.
func TestReadSafetensorsHeaderHostile(t *testing.T) {
	t.Parallel()
	one := `{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}`
	valid := safetensorsBytes(one, 8)
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"shorter than the length field", []byte{1, 2, 3},
			"the file is 3 bytes; it must start with an 8-byte header length"},
		{"length past the end of the file", withLength(valid, 1000),
			"header length 1000 runs past the end of the 77-byte file"},
		{"length 2^63", withLength(valid, 1<<63),
			"header length 9223372036854775808 exceeds the limit of 100000000 bytes"},
		{"length 2^64-1", withLength(valid, 1<<64-1),
			"header length 18446744073709551615 exceeds the limit of 100000000 bytes"},
		{"empty header", safetensorsBytes("", 0), "the header is not a JSON object"},
		{"header is an array", safetensorsBytes(`[]`, 0), "the header is not a JSON object"},
		{"header is not JSON", safetensorsBytes(`{"w": `, 0), "header: unexpected end of JSON input"},
		{"metadata not strings", safetensorsBytes(`{"__metadata__": {"n": 1}}`, 0),
			"__metadata__ must map strings to strings: json: cannot unmarshal number into Go value of type string"},
		{"unknown dtype", safetensorsBytes(`{"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}`, 16),
			`tensor "w": unknown dtype "F128"; known: BF16, BOOL, C64, F16, F32, F4, F64, F6_E2M3, F6_E3M2, F8_E4M3, F8_E5M2, F8_E8M0, I16, I32, I64, I8, U16, U32, U64, U8`},
		{"missing shape", safetensorsBytes(`{"w": {"dtype": "F32", "data_offsets": [0, 4]}}`, 4),
			`tensor "w": shape is missing`},
		{"negative dimension", safetensorsBytes(`{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}`, 4),
			`tensor "w": negative dimension -1 in shape [-1]`},
		{"shape overflows", safetensorsBytes(`{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}`, 4),
			`tensor "w": shape [4294967296 4294967296] overflows`},
		{"bits overflow", safetensorsBytes(`{"w": {"dtype": "F64", "shape": [1152921504606846976, 8], "data_offsets": [0, 4]}}`, 4),
			`tensor "w": shape [1152921504606846976 8] overflows`},
		{"sub-byte elements", safetensorsBytes(`{"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}`, 2),
			`tensor "w": 3 elements of F4 do not fill whole bytes`},
		{"one offset", safetensorsBytes(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}}`, 4),
			`tensor "w": data_offsets must be [begin, end]`},
		{"offsets past the data", safetensorsBytes(`{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, 8),
			`tensor "w": data_offsets [0, 16] are outside the 8-byte data buffer`},
		{"negative offset", safetensorsBytes(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}`, 4),
			`tensor "w": data_offsets [-4, 0] are outside the 4-byte data buffer`},
		{"offsets reversed", safetensorsBytes(`{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}`, 4),
			`tensor "w": data_offsets [4, 0] are outside the 4-byte data buffer`},
		{"offsets disagree with shape", safetensorsBytes(`{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}`, 8),
			`tensor "w": data_offsets [0, 4] hold 4 bytes, but F32[2] needs 8`},
		{"gap", safetensorsBytes(`{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
			"b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}}`, 12),
			`tensor "b" starts at byte 8, want 4: tensors must cover the data buffer without gaps or overlaps`},
		{"overlap", safetensorsBytes(`{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
			"b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}`, 6),
			`tensor "b" starts at byte 2, want 4: tensors must cover the data buffer without gaps or overlaps`},
		{"data after the tensors", safetensorsBytes(one, 9),
			"the tensors end at byte 8 of a 9-byte data buffer: the file is truncated or holds unindexed data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadSafetensorsHeader(bytes.NewReader(tc.file), int64(len(tc.file)))
			require.ErrorIs(t, err, ErrInvalidModel)
			assert.EqualError(t, err, tc.want)
		})
	}
}

// FuzzReadSafetensorsHeader: no panic; an accepted header accounts for the
// whole file.
func FuzzReadSafetensorsHeader(f *testing.F) {
	f.Add(safetensorsBytes(`{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}`, 8))
	f.Add(safetensorsBytes(`{"__metadata__": {"format": "pt"}, "a": {"dtype": "F4", "shape": [2, 2], "data_offsets": [0, 2]}}`, 2))
	f.Add(safetensorsBytes(`{"w": {"dtype": "F64", "shape": [1152921504606846976, 8], "data_offsets": [0, 4]}}`, 4))
	f.Add(withLength(safetensorsBytes(`{}`, 0), 1<<63))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := ReadSafetensorsHeader(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			return
		}
		headerBytes := int64(binary.LittleEndian.Uint64(file))
		if 8+headerBytes+h.DataBytes != int64(len(file)) {
			t.Fatalf("8 + %d header bytes + %d data bytes != %d-byte file", headerBytes, h.DataBytes, len(file))
		}
		var sum int64
		for _, tensor := range h.Tensors {
			if tensor.Begin != sum || tensor.End < tensor.Begin || tensor.Elements < 0 {
				t.Fatalf("bad tensor %+v after %d bytes", tensor, sum)
			}
			sum = tensor.End
		}
		if sum != h.DataBytes {
			t.Fatalf("tensors cover %d of %d bytes", sum, h.DataBytes)
		}
	})
}

// BenchmarkReadSafetensorsHeader reads the header of a shard of 1,000 BF16
// tensors of 4096×4096 elements, as many as a large model's shard holds.
func BenchmarkReadSafetensorsHeader(b *testing.B) {
	const tensors, size = 1000, 4096 * 4096 * 2
	entries := make([]string, tensors)
	for i := range entries {
		entries[i] = fmt.Sprintf(`"model.layers.%d.weight": {"dtype": "BF16", "shape": [4096, 4096], "data_offsets": [%d, %d]}`,
			i, i*size, (i+1)*size)
	}
	header := "{" + strings.Join(entries, ", ") + "}"
	prefix := safetensorsBytes(header, 0)
	// The data buffer is never read: a ReaderAt over the header alone, with
	// the file's full size, stands for the 33.5 GB file.
	fileSize := int64(len(prefix)) + tensors*size
	for b.Loop() {
		if _, err := ReadSafetensorsHeader(bytes.NewReader(prefix), fileSize); err != nil {
			b.Fatal(err)
		}
	}
}
