package bytesize

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		// Forms the targets file and --gpu accepted before.
		{"80GiB", 80 << 30}, {"80 GiB", 80 << 30}, {"80gib", 80 << 30}, {"24Gi", 24 << 30},
		{"141GB", 141e9}, {"141gb", 141e9}, {"1.5TiB", 3 << 39}, {"0.5GB", 5e8},
		{"85520809984", 85520809984}, {"1024B", 1024}, {"1kB", 1000}, {"1KiB", 1024},
		{"2MiB", 2 << 20}, {"0", 0}, {"1024PiB", 1 << 60}, {" 1PB ", 1e15}, {"3Ti", 3 << 40},
		// Forms the fleet file accepted before.
		{"81559MiB", 85520809984}, {"1.5GiB", 3 << 29}, {"80GB", 80e9}, {"1KB", 1000},
		{".5GiB", 1 << 29}, {"5.GiB", 5 << 30}, {"+5GiB", 5 << 30}, {"1.5", 2},
		// Fractions round up to the next whole byte.
		{"79.19GiB", 85029615043}, // 79.19 × 2^30 = 85,029,615,042.56
		{"0.1B", 1}, {"0.000000001kB", 1}, {"1.0000000001KiB", 1025},
		// Exact beyond float64's 53 bits: 2^53 + 1 and 2^60 - 1.
		{"9007199254740993B", 9007199254740993}, {"1152921504606846975", 1<<60 - 1},
		{"1023.999999999999999999PiB", 1 << 60}, // rounds up to Max itself
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const syntaxMsg = `want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)`
	const unitsMsg = `valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)`
	bad := []struct{ in, msg string }{
		{"24G", `size "24G": unknown unit "G"; ` + unitsMsg},
		{"1.5 T", `size "1.5 T": unknown unit "T"; ` + unitsMsg},
		{"2EiB", `size "2EiB": unknown unit "EiB"; ` + unitsMsg},
		{"3 apples", `size "3 apples": unknown unit "apples"; ` + unitsMsg},
		{"", `size "": ` + syntaxMsg},
		{"GiB", `size "GiB": ` + syntaxMsg},
		{".GiB", `size ".GiB": ` + syntaxMsg},
		{"-1GB", `size "-1GB": ` + syntaxMsg},
		{"1e9", `size "1e9": ` + syntaxMsg},
		{"1.5e9", `size "1.5e9": ` + syntaxMsg},
		{"1GiB512MiB", `size "1GiB512MiB": ` + syntaxMsg},
		{"0x10", `size "0x10": ` + syntaxMsg},
		{"1_000", `size "1_000": ` + syntaxMsg},
		{"Inf", `size "Inf": ` + syntaxMsg},
		{"1025PiB", `size "1025PiB" is above the limit of 1EiB`},
		{"1024.000000000000000001PiB", `size "1024.000000000000000001PiB" is above the limit of 1EiB`},
		{"99999999999999999999GB", `size "99999999999999999999GB" is above the limit of 1EiB`},
		// float64 parsing (as in alecthomas/units) wraps this to a negative int64.
		{"8191.999999999999999PiB", `size "8191.999999999999999PiB" is above the limit of 1EiB`},
		{strings.Repeat("9", 41), `size "` + strings.Repeat("9", 40) + `...": ` + syntaxMsg},
	}
	for _, tc := range bad {
		_, err := Parse(tc.in)
		assert.EqualError(t, err, tc.msg, tc.in)
	}
	_, err := Parse("2000000TiB")
	assert.True(t, errors.Is(err, ErrRange), "a size above Max wraps ErrRange")
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"80GiB", "141GB", "1.5 TiB", "24Gi", "0", "24G", "1e9", "79.19GiB",
		".5", "+1Ki", "0.000000000000000001PB", "99999999999999999999PiB", "1023.999999999999999999PiB"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n < 0 || n > Max {
			t.Fatalf("Parse(%q) = %d, outside [0, Max]", s, n)
		}
		// Units are case-insensitive, and the bytes a size comes to read
		// back as the same size.
		if up, err := Parse(strings.ToUpper(s)); err != nil || up != n {
			t.Fatalf("Parse(%q) = %d but Parse(%q) = %d, %v", s, n, strings.ToUpper(s), up, err)
		}
		if back, err := Parse(strconv.FormatInt(n, 10) + "B"); err != nil || back != n {
			t.Fatalf("Parse(%q) = %d but Parse(\"%dB\") = %d, %v", s, n, n, back, err)
		}
	})
}
