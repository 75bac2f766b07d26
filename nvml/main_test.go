package nvml

import (
	"testing"

	"go.uber.org/goleak"
)

// No test may leave a goroutine behind, including the reads abandoned at a
// deadline: they must end once the stuck call returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
