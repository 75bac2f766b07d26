package estimator

import "github.com/vramfit/vramfit/estimator/bytesize"

// MaxSize bounds every size (1 EiB) so that sums of sizes cannot overflow.
const MaxSize = bytesize.Max

// ParseSize parses a byte size ("80GiB", "141GB", "79.19GiB", "24Gi",
// "85520809984") in the grammar that package bytesize defines for every
// size a user writes.
func ParseSize(s string) (int64, error) { return bytesize.Parse(s) }

// trimForError shortens hostile input before it is quoted in a message.
func trimForError(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
