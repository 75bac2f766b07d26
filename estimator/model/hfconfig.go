package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
)

// maxConfigBytes bounds a config.json: real ones are a few KiB (Phi-3.5's,
// with its RoPE factor lists, about 10 KiB).
const maxConfigBytes = 4 << 20

// ParseHFConfig decodes a Hugging Face config.json. Syntax errors give the
// line and column, wrong types the field; keys the memory model does not use
// are ignored, as Hugging Face does.
func ParseHFConfig(data []byte) (Architecture, error) {
	return parseHFConfig("", data)
}

// LoadHFConfig reads a config.json (or the config.json in a directory) and
// builds its Model. When safetensors files or their index lie beside it,
// Model.Checkpoint says what the weights hold on disk; then a model_type
// that is not supported is read from them, with a warning.
func LoadHFConfig(path string) (Model, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := readBounded(path, maxConfigBytes)
	if err != nil {
		return Model{}, err
	}
	arch, err := parseHFConfig(path, data)
	if err != nil {
		return Model{}, err
	}
	m, err := arch.Model(path)
	var unsupported unsupportedModelType
	if err != nil && !errors.As(err, &unsupported) {
		return Model{}, invalidf("%s: %w", path, err)
	}
	ckpt, cerr := loadCheckpoint(filepath.Dir(path))
	if cerr != nil {
		return Model{}, cerr
	}
	if err != nil {
		// An unsupported model_type is read from its weights' headers, when
		// they are all there.
		if ckpt == nil || ckpt.Parameters == nil {
			return Model{}, invalidf("%s: %w", path, err)
		}
		if m, err = arch.fromCheckpoint(path, ckpt); err != nil {
			return Model{}, invalidf("%s: %w", path, err)
		}
	}
	m.Checkpoint = ckpt
	if m.Quantization == nil {
		if m.Quantization, err = loadModelOpt(filepath.Dir(path)); err != nil {
			return Model{}, err
		}
	}
	return m, nil
}

// loadModelOpt reads the hf_quant_config.json beside a config.json, or
// returns nil when there is none.
func loadModelOpt(dir string) (*Quantization, error) {
	path := filepath.Join(dir, modelOptName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	data, err := readBounded(path, maxConfigBytes)
	if err != nil {
		return nil, err
	}
	var q modelOptConfig
	if err := json.Unmarshal(data, &q); err != nil {
		return nil, invalidf("%s: %w", path, err)
	}
	quant, err := q.resolve()
	if err != nil {
		return nil, invalidf("%s: %w", path, err)
	}
	return quant, nil
}

// readBounded reads a whole regular file that must not exceed limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	data, err := readRegular(path, limit)
	if err != nil {
		return nil, invalidf("%w", err)
	}
	return data, nil
}

// parseHFConfig decodes data; path, when set, prefixes every position.
func parseHFConfig(path string, data []byte) (Architecture, error) {
	var arch Architecture
	err := json.Unmarshal(data, &arch)
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &syntax):
		return Architecture{}, invalidf("%s: %w", position(path, data, syntax.Offset), err)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return Architecture{}, invalidf("%s: got %s, want a JSON object", position(path, data, typeErr.Offset), typeErr.Value)
	case errors.As(err, &typeErr):
		return Architecture{}, invalidf("%s: field %s: got %s, want %s",
			position(path, data, typeErr.Offset), typeErr.Field, typeErr.Value, kindName(typeErr.Type))
	default:
		return Architecture{}, invalidf("%s: %w", position(path, data, 0), err)
	}
	return arch, nil
}

// position names the byte before offset (where encoding/json stopped) as
// path:line:column, or "line L, column C" without a path.
func position(path string, data []byte, offset int64) string {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, column := 1, 1
	for _, b := range data[:max(offset-1, 0)] {
		if b == '\n' {
			line, column = line+1, 1
		} else {
			column++
		}
	}
	if path == "" {
		return fmt.Sprintf("line %d, column %d", line, column)
	}
	return fmt.Sprintf("%s:%d:%d", path, line, column)
}

// kindName says in words what a Go type accepts, for type errors.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Pointer:
		return kindName(t.Elem())
	case reflect.Struct:
		return "an object"
	default:
		return t.String()
	}
}
