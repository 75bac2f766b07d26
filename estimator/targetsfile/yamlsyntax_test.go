package targetsfile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A fault deep in a long file is reported at its own line, not at the line
// where yaml's enclosing block began.
func TestSyntaxErrorAtTheLineOfTheFault(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := range 12 {
		fmt.Fprintf(&b, "  - name: t%d\n    model:\n      preset: gpt2\n    batch: 2\n", i)
	}
	b.WriteString("  - name: bad\n    model:\n      preset: gpt2\n   batch: 2\n") // line 53
	tests := []struct {
		name, data, want string
	}{
		{"a key one space short", b.String(),
			"t.yml:53: did not find expected '-' indicator; line 53 is indented by 3 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4, 6)"},
		{"a key one space deep", "targets:\n  - name: a\n    model: {preset: gpt2}\n     batch: 2\n",
			"t.yml:4: did not find expected key; line 4 is indented by 5 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4)"},
		{"a tab", "targets:\n  - name: a\n\tbatch: 2\n",
			"t.yml:3: found a tab character that violates indentation; line 3 is indented with a tab; YAML indents with spaces only"},
		// The file cut after line 2 fails the same way: the fault is put
		// there, and its indentation is not blamed.
		{"an unclosed flow mapping", "targets:\n  - {name: a, model: {preset: gpt2}\n",
			"t.yml:2: did not find expected ',' or '}'"},
		// A block's first line may be indented as deep as it likes (9); the
		// next key must line up with it or with a block above.
		{"under a deep first line", "targets:\n  - name: a\n    model:\n         preset: gpt2\n       batch: 2\n",
			"t.yml:5: did not find expected key; line 5 is indented by 7 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4, 9)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.data), "t.yml")
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestUnknownField(t *testing.T) {
	t.Parallel()
	valid := []string{"batch", "context", "tensor_parallel", "pipeline_parallel"}
	assert.Equal(t, `unknown field "tensorparallel"; did you mean tensor_parallel?`, unknownField("tensorparallel", valid))
	assert.Equal(t, `unknown field "Batch"; did you mean batch?`, unknownField("Batch", valid))
	assert.Equal(t, `unknown field "replicas"; valid: batch, context, tensor_parallel, pipeline_parallel`, unknownField("replicas", valid))
}
