// Package bytesize is the one grammar of every byte size a user writes: a
// targets file's overhead, estimate's --gpu and --overhead, a fake fleet
// file's memory_total, memory_used and process memory. It is a leaf of its
// own, pure Go and without dependencies, so that both estimator and nvml can
// use it: nvml must not import estimator, and estimator must not depend on
// nvml's cgo adapter.
//
// A size is a decimal number and an optional unit, case-insensitive, with
// optional spaces between them:
//
//	85520809984     bytes (also 85520809984B)
//	141GB  1.5TB    kB, MB, GB, TB, PB: powers of 1000
//	80GiB  24Gi     KiB, MiB, GiB, TiB, PiB (or Kubernetes' Ki, Mi, Gi, Ti,
//	                Pi): powers of 1024
//	79.19GiB        a fraction, as engines log totals
//
// A bare K, M, G or T is refused: it means powers of 1000 to some tools and
// of 1024 to others. The value is computed exactly (no floating point), and
// one that is not a whole number of bytes is rounded up to the next byte.
// Sizes above Max are refused.
package bytesize

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// Max bounds every size (1 EiB), so that sums of a few sizes cannot
// overflow an int64.
const Max int64 = 1 << 60

// ErrRange is the error (wrapped) of a size above Max.
var ErrRange = errors.New("above the limit of 1EiB")

// syntax is an optional plus sign, a number with at least one digit and an
// optional fraction, and a unit. The digit counts are bounded so that a
// hostile value costs little; 40 digits are far more than any size needs.
var syntax = regexp.MustCompile(`^\+?([0-9]{0,40})(?:\.([0-9]{0,40}))?\s*([A-Za-z]*)$`)

// units maps a lowercased unit to its size in bytes.
var units = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40, "pi": 1 << 50,
}

// Parse parses a size in the grammar of the package comment and returns it
// in bytes, from 0 to Max.
func Parse(s string) (int64, error) {
	text := strings.TrimSpace(s)
	m := syntax.FindStringSubmatch(text)
	if m == nil || m[1] == "" && m[2] == "" {
		return 0, fmt.Errorf("size %q: want a number and a unit, such as 80GiB (2^30 bytes) or 141GB (1e9 bytes)", trimForError(s))
	}
	unit, ok := units[strings.ToLower(m[3])]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; valid: B, kB, MB, GB, TB, PB (powers of 1000) and KiB, MiB, GiB, TiB, PiB (powers of 1024)",
			trimForError(s), m[3])
	}
	// value = integer.fraction × unit, exactly, rounded up to a whole byte.
	digits := m[1] + m[2]
	num, _ := new(big.Int).SetString("0"+digits, 10) // the pattern admits only digits
	num.Mul(num, big.NewInt(unit))
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(m[2]))), nil)
	bytes, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Sign() != 0 {
		bytes.Add(bytes, big.NewInt(1))
	}
	if !bytes.IsInt64() || bytes.Int64() > Max {
		return 0, fmt.Errorf("size %q is %w", trimForError(s), ErrRange)
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
