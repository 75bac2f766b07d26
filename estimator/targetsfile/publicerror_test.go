package targetsfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxPrintedErrors is the errors an estimator.ErrorList prints.
const maxPrintedErrors = 50

func TestPublicError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "shadow")
	require.NoError(t, os.WriteFile(secret, []byte("root:$6$hash:19000::::::\n"), 0o600))
	many := "targets:\n" + strings.Repeat("  - {name: a, model: {preset: gpt2}, batch: 0}\n", 60)
	tests := []struct {
		name, file, want string
	}{
		{"values of the targets file are shown", "targets:\n  - {name: a, model: {preset: gpt2}, bach: 2}\n",
			`t.yml:2: targets[0]: unknown field "bach"; did you mean batch?`},
		{"what a model file holds is not", "targets:\n  - {name: a, model: {hf_config: " + secret + "}}\n",
			"t.yml:2: targets[0].model: the model cannot be resolved; the agent's log and vramfit check-config say why"},
		{"a syntax error", "targets:\n  - name: a\n   batch: 2\n", "t.yml:3: did not find expected '-' indicator"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.file), "t.yml")
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(PublicError(err), tc.want), PublicError(err))
			assert.NotContains(t, PublicError(err), "root")
		})
	}
	_, err := Parse([]byte(many), "t.yml")
	require.Error(t, err)
	lines := strings.Split(PublicError(err), "\n")
	assert.Len(t, lines, maxPrintedErrors+1)
	assert.Equal(t, "(and 69 more errors)", lines[maxPrintedErrors], "60 zero batches and 59 duplicate names, 50 shown")
	assert.Equal(t, "the targets file cannot be loaded; the agent's log says why", PublicError(fmt.Errorf("wrapped: %w", errors.New("x"))))
}
