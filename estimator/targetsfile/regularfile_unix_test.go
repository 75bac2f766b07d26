//go:build unix

package targetsfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator/model"
)

// tinyLlamaConfig is a valid config.json, for the model directories whose
// other files are made FIFOs.
const tinyLlamaConfig = `{"model_type": "llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
	"num_attention_heads": 2, "vocab_size": 10}`

// fifoWatchdog is how long a read may stay blocked on a FIFO before the
// test opens its other end to free it and fails: the fixed code returns at
// once, the old one never did.
const fifoWatchdog = 30 * time.Second

// mkfifo makes a named pipe at path.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, syscall.Mkfifo(path, 0o600))
}

// returnsBeforeWriter runs read and fails the test if it waits for a
// writer on fifo; it then opens fifo for writing so that read ends.
func returnsBeforeWriter(t *testing.T, fifo string, read func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		return err
	case <-time.After(fifoWatchdog):
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		<-done
		require.FailNow(t, "the read blocked on the FIFO "+fifo)
		return nil
	}
}

// Every file the agent reads is refused unless it is a regular file, and
// the check itself never blocks: a FIFO in place of the targets file, the
// config.json, the index or a shard used to wait for a writer for ever.
func TestNonRegularFilesRefused(t *testing.T) {
	tests := []struct {
		name string
		// fifo is the file made a FIFO in a model directory with a valid
		// config.json; read reads through the path the agent takes.
		fifo string
		read func(dir string) error
		want string
	}{
		{name: "targets file", fifo: "targets.yml",
			read: func(dir string) error { _, err := Read(filepath.Join(dir, "targets.yml")); return err },
			want: "DIR/targets.yml: cannot read the targets file: it is a named pipe (FIFO), not a regular file"},
		{name: "hf_config", fifo: "fifo.json",
			read: func(dir string) error { _, err := model.LoadHFConfig(filepath.Join(dir, "fifo.json")); return err },
			want: "DIR/fifo.json is a named pipe (FIFO), not a regular file"},
		{name: "config.json of a directory", fifo: "config.json",
			read: func(dir string) error { _, err := model.LoadHFConfig(dir); return err },
			want: "DIR/config.json is a named pipe (FIFO), not a regular file"},
		{name: "safetensors index", fifo: "model.safetensors.index.json",
			read: func(dir string) error { _, err := model.LoadHFConfig(dir); return err },
			want: "DIR/" + "model.safetensors.index.json" + " is a named pipe (FIFO), not a regular file"},
		{name: "model.safetensors", fifo: "model.safetensors",
			read: func(dir string) error { _, err := model.LoadHFConfig(dir); return err },
			want: "DIR/model.safetensors is a named pipe (FIFO), not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.fifo != "config.json" {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(tinyLlamaConfig), 0o644))
			}
			fifo := filepath.Join(dir, tt.fifo)
			mkfifo(t, fifo)
			err := returnsBeforeWriter(t, fifo, func() error { return tt.read(dir) })
			assert.EqualError(t, err, strings.ReplaceAll(tt.want, "DIR", dir))
		})
	}
}

// Devices and directories are refused by their type, before a byte is
// read: /dev/zero never ends.
func TestSpecialFilesRefused(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		read func() error
		want string
	}{
		{"hf_config a device", func() error { _, err := model.LoadHFConfig("/dev/zero"); return err },
			"/dev/zero is a device, not a regular file"},
		{"targets file a device", func() error { _, err := Read("/dev/zero"); return err },
			"/dev/zero: cannot read the targets file: it is a device, not a regular file"},
		{"targets file a directory", func() error { _, err := Read(dir); return err },
			fmt.Sprintf("%s: cannot read the targets file: it is a directory, not a regular file", dir)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			used := allocated(func() { err = tt.read() })
			assert.EqualError(t, err, tt.want)
			assert.Less(t, used, uint64(mib), "allocated %.1f MiB", float64(used)/mib)
		})
	}
}
