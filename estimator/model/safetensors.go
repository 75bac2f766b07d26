package model

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

// maxSafetensorsHeader bounds the JSON header of a safetensors file, as the
// reference implementation does (100 MB); the length field is untrusted.
const maxSafetensorsHeader = 100_000_000

// safetensorsBits is the width of one element of each safetensors dtype.
var safetensorsBits = map[string]int64{
	"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
	"I16": 16, "U16": 16, "F16": 16, "BF16": 16,
	"I32": 32, "U32": 32, "F32": 32,
	"I64": 64, "U64": 64, "F64": 64, "C64": 64,
	"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

// SafetensorsHeader is what the header of a safetensors file says: the
// tensors, their dtypes, shapes and place in the data buffer.
type SafetensorsHeader struct {
	// Tensors are sorted by their place in the data buffer.
	Tensors []SafetensorsTensor
	// Metadata is the optional free-form "__metadata__" block.
	Metadata map[string]string
	// DataBytes is the size of the data buffer, the sum of the tensors' sizes.
	DataBytes int64
}

// SafetensorsTensor is one tensor of a safetensors header.
type SafetensorsTensor struct {
	Name  string
	DType string
	Shape []int64
	// Elements is the product of Shape (1 for a scalar).
	Elements int64
	// Begin and End are its byte offsets in the data buffer.
	Begin, End int64
}

// headerEntry is one tensor as the header's JSON writes it.
type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ReadSafetensorsHeader reads and checks the header of a safetensors file of
// size bytes: a little-endian uint64 length, then that many bytes of JSON
// naming every tensor's dtype, shape and data offsets. Every value is
// checked: the length against the limit and the file, the dtypes, the shapes
// for overflow, and the offsets, which must match shape × dtype and cover the
// data buffer exactly, without gaps or overlaps.
func ReadSafetensorsHeader(r io.ReaderAt, size int64) (SafetensorsHeader, error) {
	var prefix [8]byte
	if size < int64(len(prefix)) {
		return SafetensorsHeader{}, invalidf("the file is %d bytes; it must start with an 8-byte header length", size)
	}
	if err := readFull(r, prefix[:], 0); err != nil {
		return SafetensorsHeader{}, invalidf("read header length: %w", err)
	}
	length := binary.LittleEndian.Uint64(prefix[:])
	if length > maxSafetensorsHeader {
		return SafetensorsHeader{}, invalidf("header length %d exceeds the limit of %d bytes", length, maxSafetensorsHeader)
	}
	if length > uint64(size)-uint64(len(prefix)) {
		return SafetensorsHeader{}, invalidf("header length %d runs past the end of the %d-byte file", length, size)
	}
	raw := make([]byte, length)
	if err := readFull(r, raw, int64(len(prefix))); err != nil {
		return SafetensorsHeader{}, invalidf("read header: %w", err)
	}
	return parseSafetensorsHeader(raw, size-int64(len(prefix))-int64(length))
}

// readFull reads len(buf) bytes at off; io.ReaderAt may report io.EOF along
// with a complete read.
func readFull(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseSafetensorsHeader checks the JSON header against a data buffer of
// dataBytes.
func parseSafetensorsHeader(raw []byte, dataBytes int64) (SafetensorsHeader, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return SafetensorsHeader{}, invalidf("the header is not a JSON object")
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return SafetensorsHeader{}, invalidf("header: %w", err)
	}
	var h SafetensorsHeader
	if meta, ok := entries["__metadata__"]; ok {
		if err := json.Unmarshal(meta, &h.Metadata); err != nil {
			return SafetensorsHeader{}, invalidf("__metadata__ must map strings to strings: %w", err)
		}
		delete(entries, "__metadata__")
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic errors
	h.Tensors = make([]SafetensorsTensor, 0, len(names))
	for _, name := range names {
		t, err := parseTensor(name, entries[name], dataBytes)
		if err != nil {
			return SafetensorsHeader{}, err
		}
		h.Tensors = append(h.Tensors, t)
	}
	slices.SortStableFunc(h.Tensors, func(a, b SafetensorsTensor) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End))
	})
	for _, t := range h.Tensors {
		if t.Begin != h.DataBytes {
			return SafetensorsHeader{}, invalidf("tensor %q starts at byte %d, want %d: tensors must cover the data buffer without gaps or overlaps",
				t.Name, t.Begin, h.DataBytes)
		}
		h.DataBytes = t.End
	}
	if h.DataBytes != dataBytes {
		return SafetensorsHeader{}, invalidf("the tensors end at byte %d of a %d-byte data buffer: the file is truncated or holds unindexed data",
			h.DataBytes, dataBytes)
	}
	return h, nil
}

// parseTensor checks one tensor entry.
func parseTensor(name string, raw json.RawMessage, dataBytes int64) (SafetensorsTensor, error) {
	var e headerEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return SafetensorsTensor{}, invalidf("tensor %q: %w", name, err)
	}
	bitsPer, ok := safetensorsBits[e.DType]
	if !ok {
		return SafetensorsTensor{}, invalidf("tensor %q: unknown dtype %q; known: %s", name, e.DType, knownDTypes())
	}
	if e.Shape == nil {
		return SafetensorsTensor{}, invalidf("tensor %q: shape is missing", name)
	}
	var c checked
	elements := int64(1)
	for _, d := range e.Shape {
		if d < 0 {
			return SafetensorsTensor{}, invalidf("tensor %q: negative dimension %d in shape %v", name, d, e.Shape)
		}
		elements = c.mul(elements, d)
	}
	bitCount := c.mul(elements, bitsPer)
	if c.overflow {
		return SafetensorsTensor{}, invalidf("tensor %q: shape %v overflows", name, e.Shape)
	}
	if bitCount%8 != 0 {
		return SafetensorsTensor{}, invalidf("tensor %q: %d elements of %s do not fill whole bytes", name, elements, e.DType)
	}
	if len(e.DataOffsets) != 2 {
		return SafetensorsTensor{}, invalidf("tensor %q: data_offsets must be [begin, end]", name)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin || end > dataBytes {
		return SafetensorsTensor{}, invalidf("tensor %q: data_offsets [%d, %d] are outside the %d-byte data buffer",
			name, begin, end, dataBytes)
	}
	if end-begin != bitCount/8 {
		return SafetensorsTensor{}, invalidf("tensor %q: data_offsets [%d, %d] hold %d bytes, but %s%v needs %d",
			name, begin, end, end-begin, e.DType, e.Shape, bitCount/8)
	}
	return SafetensorsTensor{Name: name, DType: e.DType, Shape: e.Shape, Elements: elements, Begin: begin, End: end}, nil
}

// knownDTypes lists the safetensors dtypes for error messages.
func knownDTypes() string {
	names := make([]string, 0, len(safetensorsBits))
	for name := range safetensorsBits {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// elementsByDType sums the tensors' elements by dtype into counts.
func (h SafetensorsHeader) elementsByDType(counts map[string]int64) {
	for _, t := range h.Tensors {
		counts[t.DType] += t.Elements
	}
}
