package estimator

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// sizeSyntax is a decimal number and an optional unit.
var sizeSyntax = regexp.MustCompile(`^([0-9]{1,20})(?:\.([0-9]{1,20}))?\s*([A-Za-z]*)$`)

// sizeUnits maps a lowercased unit to its size in bytes. SI units are powers
// of 1000 (GB = 1e9), IEC units powers of 1024 (GiB = 2^30); Kubernetes'
// "Gi" spelling is IEC too. A bare "G" is refused: it means GB to some tools
// and GiB to others.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40, "pi": 1 << 50,
}

// MaxSize bounds every size (1 EiB) so that sums of sizes cannot overflow.
const MaxSize int64 = 1 << 60

// ParseSize parses a byte size: "80GiB", "141GB", "1.5 TiB", "24Gi",
// "85520809984", at most MaxSize. A size in a larger unit is rounded down
// to whole bytes ("79.19GiB", a total copied from an engine's log, is
// 85029615042 bytes); a count of bytes must be whole.
func ParseSize(s string) (int64, error) {
	text := strings.TrimSpace(s)
	m := sizeSyntax.FindStringSubmatch(text)
	if m == nil {
		return 0, fmt.Errorf("size %q: want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)", trimForError(s))
	}
	unit, ok := sizeUnits[strings.ToLower(m[3])]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)",
			trimForError(s), m[3])
	}
	value, _ := new(big.Rat).SetString(m[1] + "." + m[2] + "0") // the pattern admits only digits
	value.Mul(value, new(big.Rat).SetInt64(unit))
	if unit == 1 && !value.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", trimForError(s))
	}
	bytes := new(big.Int).Quo(value.Num(), value.Denom()) // rounded down; both are positive
	if !bytes.IsInt64() || bytes.Int64() > MaxSize {
		return 0, fmt.Errorf("size %q is above the limit of 1EiB", trimForError(s))
	}
	return bytes.Int64(), nil
}

// trimForError shortens hostile input before it is quoted in a message.
func trimForError(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
