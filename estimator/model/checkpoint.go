package model

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// safetensorsIndexName is the index Hugging Face writes beside sharded
// weights; maxIndexBytes bounds it (one line per tensor: a few MiB for the
// largest models).
const (
	safetensorsIndexName = "model.safetensors.index.json"
	maxIndexBytes        = 64 << 20
)

// safetensorsIndex is the part of the index this package reads.
type safetensorsIndex struct {
	Metadata struct {
		TotalSize json.Number `json:"total_size"`
	} `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// loadCheckpoint describes the weights beside a config.json, or returns nil
// when there are none. With an index, its shards are read when all of them
// are present (their headers are exact) and its metadata.total_size is used
// otherwise. Without one, model.safetensors is read, or else every
// *.safetensors file.
func loadCheckpoint(dir string) (*Checkpoint, error) {
	indexPath := filepath.Join(dir, safetensorsIndexName)
	_, err := os.Stat(indexPath)
	switch {
	case err == nil:
		return loadIndexedCheckpoint(dir, indexPath)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, invalidf("%w", err)
	}
	files := []string{"model.safetensors"}
	if _, err := os.Stat(filepath.Join(dir, files[0])); err != nil {
		if files, err = filepath.Glob(filepath.Join(dir, "*.safetensors")); err != nil {
			return nil, invalidf("list %s: %w", dir, err)
		}
		for i, f := range files {
			files[i] = filepath.Base(f)
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	return readShards(dir, files)
}

// loadIndexedCheckpoint reads model.safetensors.index.json and its shards.
func loadIndexedCheckpoint(dir, indexPath string) (*Checkpoint, error) {
	data, err := readBounded(indexPath, maxIndexBytes)
	if err != nil {
		return nil, err
	}
	var index safetensorsIndex
	if err := json.Unmarshal(data, &index); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, invalidf("%s: %w", position(indexPath, data, syntax.Offset), err)
		}
		return nil, invalidf("%s: %w", indexPath, err)
	}
	var total int64
	if index.Metadata.TotalSize != "" {
		total, err = strconv.ParseInt(index.Metadata.TotalSize.String(), 10, 64)
		if err != nil || total < 0 {
			return nil, invalidf("%s: metadata.total_size %s: want a whole number of bytes", indexPath, index.Metadata.TotalSize)
		}
	}
	var shards []string
	for _, shard := range index.WeightMap {
		if shard != filepath.Base(shard) || shard == "." || shard == ".." {
			return nil, invalidf("%s: weight_map names %q: want a file name in the same directory", indexPath, shard)
		}
		if !slices.Contains(shards, shard) {
			shards = append(shards, shard)
		}
	}
	slices.Sort(shards)
	for _, shard := range shards {
		if _, err := os.Stat(filepath.Join(dir, shard)); err != nil {
			if total == 0 {
				return nil, nil
			}
			return &Checkpoint{Bytes: total}, nil
		}
	}
	if len(shards) == 0 {
		if total == 0 {
			return nil, nil
		}
		return &Checkpoint{Bytes: total}, nil
	}
	return readShards(dir, shards)
}

// readShards reads the header of every file and adds up their tensors.
func readShards(dir string, files []string) (*Checkpoint, error) {
	ckpt := &Checkpoint{Parameters: map[string]int64{}}
	var c checked
	for _, name := range files {
		path := filepath.Join(dir, name)
		s, err := readShard(path)
		if err != nil {
			return nil, invalidf("%w", err)
		}
		ckpt.Bytes = c.add(ckpt.Bytes, s.dataBytes)
		for dtype, n := range s.elements {
			ckpt.Parameters[dtype] += n
		}
	}
	if c.overflow {
		return nil, invalidf("%s: the safetensors files hold more than 2^63 bytes", dir)
	}
	return ckpt, nil
}
