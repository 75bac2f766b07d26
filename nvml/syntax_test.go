package nvml

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deepFleet is a fleet file of twelve GPUs in block style followed by last,
// the lines of a thirteenth, so that a fault in last lies far below the
// line where yaml's enclosing block (gpus, on line 2) begins.
func deepFleet(last string) string {
	var b strings.Builder
	b.WriteString("driver_version: \"550.54.15\"\ngpus:\n")
	for i := range 12 {
		fmt.Fprintf(&b, "  - board: rtx-4090\n    memory_used: %dGiB\n    utilization: 0.5\n    temperature_celsius: 40\n", i+1)
	}
	b.WriteString(last) // from line 51
	return b.String()
}

// A syntax error is reported at the line of the fault, with a hint when
// its indentation is to blame, not at the line yaml names.
func TestParseFleetSyntaxErrorAtTheLineOfTheFault(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"a key one space short deep in the file",
			deepFleet("  - board: rtx-4090\n    memory_used: 1GiB\n   utilization: 0.5\n"),
			"f.yml:53: did not find expected '-' indicator; line 53 is indented by 3 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4)"},
		{"a key one space deep deep in the file",
			deepFleet("  - board: rtx-4090\n    memory_used: 1GiB\n     utilization: 0.5\nfaults: {garbage: [0]}\n"),
			"f.yml:53: mapping values are not allowed in this context; line 53 is indented by 5 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4)"},
		{"a tab deep in the file",
			deepFleet("  - board: rtx-4090\n\tmemory_used: 1GiB\n"),
			"f.yml:52: found a tab character that violates indentation; line 52 is indented with a tab; YAML indents with spaces only"},
		{"a fault in the faults block",
			deepFleet("faults:\n  lost:\n    - {gpu: 1}\n   - {gpu: 2}\n"),
			"f.yml:54: did not find expected key; line 54 is indented by 3 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4, 6)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFleet("f.yml", []byte(tc.yaml))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

// --nvml.fake=FILE opens the file with OpenFake: its syntax error names the
// file as given and the line of the fault.
func TestOpenFakeSyntaxErrorAtTheLineOfTheFault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.yml")
	require.NoError(t, os.WriteFile(path, []byte(deepFleet("  - board: rtx-4090\n    memory_used: 1GiB\n   utilization: 0.5\n")), 0o600))
	_, err := OpenFake(path)
	require.Error(t, err)
	assert.Equal(t, path+":53: did not find expected '-' indicator; line 53 is indented by 3 spaces, which lines up with none of the blocks above it (indented by 0, 2, 4)", err.Error())
}
