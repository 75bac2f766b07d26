package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCheckConfig(args ...string) (status int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	status = run(append([]string{"check-config"}, args...), &out, &errOut)
	return status, out.String(), errOut.String()
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	empty := write("empty.yml", "targets: []\n")
	one := write("one.yml", "targets:\n  - {name: chat, model: {preset: llama-3-8b}}\n")
	bad := write("bad.yml", "targets:\n  - {name: chat, model: {preset: llama-3-8b}, batch: 0}\n  - {name: chat, model: {preset: gpt2}}\n")
	tests := []struct {
		name           string
		args           []string
		status         int
		stdout, stderr string
	}{
		{"summary by workload", []string{"testdata/check-config.yml"}, 0,
			"testdata/check-config.yml: 4 valid targets (2 inference, 1 lora, 1 training)\n", ""},
		{"one target", []string{one}, 0, one + ": 1 valid target (1 inference)\n", ""},
		{"no targets", []string{empty}, 0, empty + ": valid, no targets\n", ""},
		// Every error, each with its file, line and field.
		{"invalid", []string{bad}, 1, "", bad + ":2: targets[0].batch: "},
		{"invalid, second error", []string{bad}, 1, "", bad + ":3: targets[1].name: duplicate name \"chat\""},
		// The messages docs/reliability.md gives.
		{"missing file", []string{filepath.Join(dir, "none.yml")}, 1, "",
			filepath.Join(dir, "none.yml") + ": cannot read the targets file: no such file or directory\n"},
		{"a directory", []string{dir}, 1, "", dir + ": cannot read the targets file: it is a directory, not a regular file\n"},
		{"no file given", nil, 2, "", "required argument 'file' not provided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := runCheckConfig(tt.args...)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.stdout, stdout)
			assert.Contains(t, stderr, tt.stderr)
		})
	}
}

// Warnings are printed, and do not fail the check.
func TestCheckConfigWarnings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "long.yml")
	require.NoError(t, os.WriteFile(file, []byte("targets:\n  - {name: a, model: {preset: gpt2}}\n"+
		"  - {name: long, model: {preset: llama-3-8b}, context: 100000, allow_long_context: true}\n"), 0o600))
	status, stdout, stderr := runCheckConfig(file)
	assert.Equal(t, 0, status)
	assert.Equal(t, file+": 2 valid targets (2 inference)\n", stdout)
	assert.Regexp(t, `^\Q`+file+`: targets[1] (long): warning: \E.*100000.*8192`, stderr)
}

// The example targets shipped with vramfit stay valid.
func TestCheckConfigExample(t *testing.T) {
	status, stdout, stderr := runCheckConfig(exampleTargets)
	assert.Equal(t, 0, status, stderr)
	assert.Regexp(t, `^\Q`+exampleTargets+`\E: \d+ valid targets \(`, stdout)
}
