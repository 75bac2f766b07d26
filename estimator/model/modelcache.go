package model

import (
	"fmt"
	"io/fs"
	"sync"
)

// maxCachedShards bounds the shard cache; past it the cache starts again
// empty (a host plans a few models, each of a few dozen shards).
const maxCachedShards = 4096

// fileKey identifies one version of a file: a file written again changes
// its size, modification or change time, and a file replaced by another
// (renamed over it) its inode, so either is read again.
type fileKey struct {
	path         string
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func newFileKey(path string, info fs.FileInfo) fileKey {
	k := fileKey{path: path, size: info.Size(), mtime: info.ModTime().UnixNano()}
	k.dev, k.ino, k.ctime = fileIdentity(info)
	return k
}

// shardSummary is what a checkpoint needs of one safetensors file: its
// data bytes and its elements by dtype. It is read-only once cached.
type shardSummary struct {
	dataBytes int64
	elements  map[string]int64
}

// shardCache holds the summaries of the safetensors files read so far:
// targets that name the same model, and reloads of an unchanged model,
// read its headers (up to 100 MB of JSON each) once.
var shardCache = struct {
	sync.Mutex
	entries map[fileKey]shardSummary
}{entries: map[fileKey]shardSummary{}}

// readShard summarises the header of the safetensors file at path,
// from the cache when the file has not changed since it was read.
func readShard(path string) (shardSummary, error) {
	f, info, err := OpenRegular(path)
	if err != nil {
		return shardSummary{}, err
	}
	defer f.Close()
	key := newFileKey(path, info)
	shardCache.Lock()
	s, ok := shardCache.entries[key]
	shardCache.Unlock()
	if ok {
		return s, nil
	}
	h, err := ReadSafetensorsHeader(f, info.Size())
	if err != nil {
		return shardSummary{}, fmt.Errorf("%s: %w", path, err)
	}
	s = shardSummary{dataBytes: h.DataBytes, elements: map[string]int64{}}
	h.elementsByDType(s.elements)
	shardCache.Lock()
	if len(shardCache.entries) >= maxCachedShards {
		clear(shardCache.entries)
	}
	shardCache.entries[key] = s
	shardCache.Unlock()
	return s, nil
}
