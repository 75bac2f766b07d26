package targetsfile

import (
	"fmt"
	"strings"

	"github.com/vramfit/vramfit/estimator/model"
)

// unknownField says that key is not one of valid, suggesting the keys it
// most likely meant, or listing them all when none is close.
func unknownField(key string, valid []string) string {
	if close := model.CloseNames(key, valid); len(close) > 0 {
		return fmt.Sprintf("unknown field %q; did you mean %s?", trimForError(key), strings.Join(close, " or "))
	}
	return fmt.Sprintf("unknown field %q; valid: %s", trimForError(key), strings.Join(valid, ", "))
}
