package targetsfile

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vramfit/vramfit/estimator"
)

// allocated runs f and returns the bytes it allocated. The tests that call
// it are not parallel: no parallel test runs beside a sequential one, so the
// count is f's own.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const mib = 1 << 20

// aliasBomb is a "billion laughs" file: 10 aliases of 10 aliases, 30 levels
// deep, 10^30 nodes once expanded.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	b.WriteString("targets: [*a29]\n")
	return b.String()
}

// targetsOf is a targets file of n one-line targets, the i-th given by line.
func targetsOf(n int, line func(i int) string) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := range n {
		b.WriteString("  - " + line(i) + "\n")
	}
	return b.String()
}

// Hostile targets files, beyond the invalid-*.yml files of
// TestLoadTargetsInvalid: each is refused with a message that names the
// line and field and says what is valid, allocating a bounded amount
// (the file is at most 2 MiB; the worst here is a few MiB per MiB).
func TestParseTargetsHostile(t *testing.T) {
	one := func(fields string) string {
		return "targets:\n  - {name: a, model: {preset: gpt2}, " + fields + "}\n"
	}
	tests := []struct {
		name     string
		data     string
		want     string // the whole message after the file name
		maxBytes uint64 // allocated at most
	}{
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ": invalid leading UTF-8 octet; a targets file is YAML text in UTF-8", 1 * mib},
		{"control characters", "\x00\x01\x02", ": control characters are not allowed; a targets file is YAML text in UTF-8", 1 * mib},
		{"Latin-1 text", "targets:\n  - {name: caf\xe9, model: {preset: gpt2}}\n", ": invalid trailing UTF-8 octet; a targets file is YAML text in UTF-8", 1 * mib},
		{"plain text", "hello world\n", ":1: want a mapping with the keys targets and defaults", 1 * mib},
		{"tab indentation", "targets:\n\t- {name: a}\n", ":2: found character that cannot start any token; line 2 is indented with a tab; YAML indents with spaces only", 1 * mib},
		{"flow lists 100,000 deep", "targets: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000),
			": exceeded max depth of 10000", 16 * mib},
		{"flow mappings 100,000 deep", "targets: " + strings.Repeat("{a: ", 100_000) + "1" + strings.Repeat("}", 100_000),
			": exceeded max depth of 10000", 16 * mib},
		{"alias bomb of 10^30 nodes", aliasBomb(), ":2: aliases (*a0) are not supported in a targets file", 1 * mib},
		{"a key of 1 MiB", "targets: []\n" + strings.Repeat("k", mib) + ": 1\n", ":2: could not find expected ':'", 16 * mib},
		{"a name of 1 MiB", "targets:\n  - {name: " + strings.Repeat("x", mib) + ", model: {preset: gpt2}}\n",
			":2: targets[0].name: is 1048576 bytes long; at most 128 are allowed", 16 * mib},
		{"a quoted name with a newline", "targets:\n  - {name: \"a\\nb\", model: {preset: gpt2}}\n",
			`:2: targets[0].name: "a\nb" holds a control character or invalid UTF-8`, 1 * mib},
		{"batch above int64", one("batch: 99999999999999999999"), `:2: targets[0].batch: must be a whole number from 1 to 1048576, got "99999999999999999999"`, 1 * mib},
		{"batch of 10^12", one("batch: 1000000000000"), ":2: targets[0].batch: must be at most 1048576, got 1000000000000", 1 * mib},
		{"negative batch", one("batch: -1"), ":2: targets[0].batch: must be at least 1, got -1", 1 * mib},
		{"fractional batch", one("batch: 1.5"), `:2: targets[0].batch: must be an integer, got float "1.5"`, 1 * mib},
		{"context of 10^12", one("context: 1000000000000"), ":2: targets[0].context: must be at most 16777216, got 1000000000000", 1 * mib},
		{"tensor_parallel of 10^9", one("tensor_parallel: 1000000000"), ":2: targets[0].tensor_parallel: must be at most 65536, got 1000000000", 1 * mib},
		{"memory_utilization NaN", one("memory_utilization: .nan"), `:2: targets[0].memory_utilization: must be a number more than 0 and at most 1, got ".nan"`, 1 * mib},
		{"memory_utilization infinite", one("memory_utilization: .inf"), `:2: targets[0].memory_utilization: must be a number more than 0 and at most 1, got ".inf"`, 1 * mib},
		{"negative overhead", one("overhead: -1"), `:2: targets[0].overhead: size "-1": want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`, 1 * mib},
		{"overhead of 10^30 bytes", one("overhead: 1000000000000000000000000000000"), `:2: targets[0].overhead: must be a size such as 1GiB or a number of bytes, got float "1000000000000000000000000000000"`, 1 * mib},
		{"parameters NaN", "targets:\n  - {name: a, model: {parameters: .nan}}\n", `:2: targets[0].model: parameters: parameter count ".nan": want a number such as 70B, 1.5T, 7.24e9 or 124439808`, 1 * mib},
		{"negative parameters", "targets:\n  - {name: a, model: {parameters: -7B}}\n", `:2: targets[0].model: parameters: parameter count "-7B": want a number such as 70B, 1.5T, 7.24e9 or 124439808`, 1 * mib},
		{"an architecture of 10^9 hidden units", "targets:\n  - {name: a, model: {architecture: {model_type: llama, hidden_size: 1000000000, num_hidden_layers: 1, num_attention_heads: 1, vocab_size: 1, intermediate_size: 1}}}\n",
			":2: targets[0].model: hidden_size 1000000000: want an integer from 1 to 67108864", 1 * mib},
		{"LoRA rank of 10^12", "targets:\n  - {name: a, model: {preset: gpt2}, workload: lora, lora: {rank: 1000000000000, modules: [c_attn]}}\n",
			":2: targets[0].lora.rank: must be at most 65536, got 1000000000000", 1 * mib},
		{"10,000 invalid targets", targetsOf(MaxTargets, func(i int) string { return fmt.Sprintf("{name: t%d, model: {preset: gpt2}, batch: 0}", i) }),
			":2: targets[0].batch: must be at least 1, got 0", 128 * mib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.data)
			require.LessOrEqual(t, len(data), MaxSize, "the case is about the content, not the size")
			var err error
			used := allocated(func() { _, err = Parse(data, "t.yml") })
			require.Error(t, err)
			require.ErrorIs(t, err, estimator.ErrInvalidTarget)
			first, _, _ := strings.Cut(err.Error(), "\n")
			assert.Equal(t, "t.yml"+tc.want, first)
			assert.LessOrEqual(t, used, tc.maxBytes, "allocated %.1f MiB", float64(used)/mib)
			t.Logf("refused, %.2f MiB allocated", float64(used)/mib)
		})
	}
}

// Names are labels, page text and JSON strings: anything printable is
// allowed and kept as written; the exporter escapes it where it goes.
func TestParseTargetsNamesKeptVerbatim(t *testing.T) {
	names := []string{`"quoted"`, `<script>alert('x')</script>`, `a & b`, `back\slash`, `{"json": 1}`, `名前`, `--web.enable-lifecycle`}
	var file strings.Builder
	file.WriteString("targets:\n")
	for _, n := range names {
		fmt.Fprintf(&file, "  - {name: %q, model: {preset: gpt2}}\n", n)
	}
	targets, err := Parse([]byte(file.String()), "t.yml")
	require.NoError(t, err)
	require.Len(t, targets, len(names))
	for i, n := range names {
		assert.Equal(t, n, targets[i].Name)
	}
}

// The largest file accepted: MaxTargets targets, parsed, validated and
// estimated within a bounded allocation (about 8 KiB per target).
func TestParseTargetsMaxTargets(t *testing.T) {
	data := []byte(targetsOf(MaxTargets, func(i int) string {
		return fmt.Sprintf("{name: t%d, model: {preset: llama-3.1-70b}, context: 32768, batch: 8}", i)
	}))
	var targets []estimator.Target
	var err error
	used := allocated(func() { targets, err = Parse(data, "t.yml") })
	require.NoError(t, err)
	assert.Len(t, targets, MaxTargets)
	assert.LessOrEqual(t, used, uint64(256*mib), "allocated %.1f MiB", float64(used)/mib)
	t.Logf("%d targets (%d bytes) accepted, %.1f MiB allocated", len(targets), len(data), float64(used)/mib)
}
