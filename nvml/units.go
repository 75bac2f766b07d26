package nvml

import (
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/estimator/bytesize"
)

// maxFleetBytes bounds every memory quantity in a fleet file (1 PiB), so
// that sums of them cannot overflow.
const maxFleetBytes = 1 << 50

// byteSize is a memory quantity in a fleet file, in the grammar of every
// size a user writes (package bytesize): 85520809984, 81559MiB, 1.5GiB,
// 24Gi, 141GB.
type byteSize uint64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return valueError(n, err)
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (uint64, error) {
	v, err := bytesize.Parse(s)
	if errors.Is(err, bytesize.ErrRange) || err == nil && v > maxFleetBytes {
		return 0, fmt.Errorf("%q is above the largest memory size allowed, 1PiB", s)
	}
	if err != nil {
		return 0, err
	}
	return uint64(v), nil
}

// duration is a Go duration in a fleet file: 250ms, 2s, 1m30s.
type duration time.Duration

// maxFleetDuration bounds the delays and times of a fleet file.
const maxFleetDuration = time.Hour

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 || v > maxFleetDuration {
		return valueError(n, fmt.Errorf("%q is not a duration between 0s and 1h, such as 250ms or 2s", n.Value))
	}
	*d = duration(v)
	return nil
}
