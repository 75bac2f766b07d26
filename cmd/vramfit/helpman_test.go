package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The man page's .TH line holds the version alone; version.Print's build
// report spread over the page's first lines before.
func TestHelpManTitleLine(t *testing.T) {
	// kingpin writes the man page to os.Stdout, whatever the usage writer.
	out, err := os.Create(filepath.Join(t.TempDir(), "man"))
	require.NoError(t, err)
	defer func(s *os.File) { os.Stdout = s }(os.Stdout)
	os.Stdout = out
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"--help-man"}, &stdout, &stderr), stderr.String())
	page, err := os.ReadFile(out.Name())
	require.NoError(t, err)

	lines := strings.Split(string(page), "\n")
	require.Greater(t, len(lines), 2)
	assert.Regexp(t, `^\.TH vramfit 1 "[^"]*"`, lines[0])
	assert.NotContains(t, string(page), "build user:")
	assert.True(t, strings.HasPrefix(lines[1], "."), "the line after .TH is a macro, got %q", lines[1])
}
