package targetsfile

import (
	"errors"

	"github.com/vramfit/vramfit/estimator"
)

// PublicError writes err, an error of loading a targets file, for a page
// that anyone who reaches the agent may read. An error about a value of the
// targets file is shown as it is: the file's targets are on that page
// anyway. An error from resolving a model quotes what it read elsewhere (a
// config.json, a safetensors header, whatever file an hf_config names), so
// only its place is shown; the agent's log and check-config have the rest.
func PublicError(err error) string {
	var lines estimator.ErrorList
	var walk func(error)
	walk = func(err error) {
		if joined, ok := err.(estimator.ErrorList); ok {
			for _, e := range joined {
				walk(e)
			}
			return
		}
		var te *estimator.TargetError
		switch {
		case !errors.As(err, &te):
			lines = append(lines, errors.New("the targets file cannot be loaded; the agent's log says why"))
		case te.Field == "model" && te.Cause != nil:
			shown := *te
			shown.Msg = "the model cannot be resolved; the agent's log and vramfit check-config say why"
			lines = append(lines, &shown)
		default:
			lines = append(lines, te)
		}
	}
	walk(err)
	return lines.Error() // one a line, the first 50 and the count of the rest
}
