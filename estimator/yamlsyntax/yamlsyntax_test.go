package yamlsyntax

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestLocate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		line       int
		msg        string
	}{
		{"a key one space short", "a:\n  - b: 1\n    c: 2\n  - b: 1\n   c: 2\n",
			5, "did not find expected '-' indicator; line 5 is indented by 3 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4)"},
		{"a tab", "a:\n  b: 1\n\tc: 2\n", 3, "found a tab character that violates indentation; line 3 is indented with a tab; YAML indents with spaces only"},
		// A block's first line may be indented as deep as it likes: the
		// line after one that opens a block has no indentation to blame.
		{"below a line that opens a block", "a:\n  - b:\n   c: 1\n", 3, "did not find expected '-' indicator"},
		{"below a line that does not", "a:\n  b:\n      - 1\n     - 2\n", 4, "did not find expected key; line 4 is indented by 5 spaces, which lines up with none of the blocks above it (indented by 0, 2, 6, 8)"},
		{"indented as a block above", "a:\n  - b: 1\n  c: 2\n", 3, "did not find expected '-' indicator"},
		// Comments and blank lines open no block.
		{"after comments", "a:\n  b: 1\n\n  # c\n   d: 2\n", 5, "did not find expected key; line 5 is indented by 3 spaces, which lines up with none of the blocks above it (indented by 0, 2)"},
		{"an unclosed flow sequence", "a: [", 1, "did not find expected node content"},
		{"a CRLF file", "a:\r\n  - b: 1\r\n   c: 2\r\n", 3, "did not find expected '-' indicator; line 3 is indented by 3 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var node yaml.Node
			err := yaml.Unmarshal([]byte(tc.data), &node)
			require.Error(t, err)
			line, msg, ok := Locate([]byte(tc.data), err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tc.line, line)
			assert.Equal(t, tc.msg, msg)
		})
	}
}

// An error whose problem the file cut at a line end does not reproduce is
// left at the line yaml names; one that names no line is not located.
func TestLocateLeavesWhatItCannotPlace(t *testing.T) {
	t.Parallel()
	line, msg, ok := Locate([]byte("a: 1\nb: 2\nc: 3\n"), errors.New("yaml: line 2: something else"))
	assert.True(t, ok)
	assert.Equal(t, 2, line)
	assert.Equal(t, "something else", msg)

	var node yaml.Node
	err := yaml.Unmarshal([]byte("a: \x01\n"), &node)
	require.Error(t, err)
	_, _, ok = Locate([]byte("a: \x01\n"), err)
	assert.False(t, ok, "%v", err)
}
