package nvml

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxFleetBytes bounds every memory quantity in a fleet file (1 PiB), so
// that sums of them cannot overflow.
const maxFleetBytes = 1 << 50

// byteSize is a memory quantity in a fleet file: a whole number of bytes or
// a number with a unit (KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB,
// TiB in powers of 1024): 85520809984, 81559MiB, 1.5GiB.
type byteSize uint64

var byteUnits = map[string]uint64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (uint64, error) {
	invalid := fmt.Errorf("%q is not a memory size: want bytes or a number with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), such as 81559MiB", s)
	num := strings.TrimRight(s, "BKMGTi")
	unit, ok := byteUnits[s[len(num):]]
	if !ok || num == "" {
		return 0, invalid
	}
	var v uint64
	if n, err := strconv.ParseUint(num, 10, 64); err == nil {
		hi, lo := bits.Mul64(n, unit)
		if hi != 0 {
			return 0, fmt.Errorf("%q is above the largest memory size allowed, 1PiB", s)
		}
		v = lo
	} else {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || strings.ContainsAny(num, "eExXpP_") || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, invalid
		}
		f = math.Round(f * float64(unit))
		if f > maxFleetBytes {
			return 0, fmt.Errorf("%q is above the largest memory size allowed, 1PiB", s)
		}
		v = uint64(f)
	}
	if v > maxFleetBytes {
		return 0, fmt.Errorf("%q is above the largest memory size allowed, 1PiB", s)
	}
	return v, nil
}

// duration is a Go duration in a fleet file: 250ms, 2s, 1m30s.
type duration time.Duration

// maxFleetDuration bounds the delays and times of a fleet file.
const maxFleetDuration = time.Hour

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 || v > maxFleetDuration {
		return fmt.Errorf("%q is not a duration between 0s and 1h, such as 250ms or 2s", n.Value)
	}
	*d = duration(v)
	return nil
}
