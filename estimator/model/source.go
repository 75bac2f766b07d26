package model

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrInvalidModel is wrapped by every error that a model source returns: an
// unknown preset, a bad parameter count, an architecture that cannot be
// built, an unreadable or malformed config.json or safetensors file.
var ErrInvalidModel = errors.New("invalid model")

// modelError carries a message that stands on its own (it names the file,
// line and field) while matching ErrInvalidModel and any error it wraps.
type modelError struct{ err error }

func (e modelError) Error() string   { return e.err.Error() }
func (e modelError) Unwrap() []error { return []error{ErrInvalidModel, e.err} }

// invalidf formats an error that wraps ErrInvalidModel (and, through %w,
// any cause given in args).
func invalidf(format string, args ...any) error {
	return modelError{fmt.Errorf(format, args...)}
}

// ModelSource is the `model:` block of a target: exactly one field set.
type ModelSource struct {
	Preset       string         `yaml:"preset,omitempty" json:"preset,omitempty"`
	Parameters   ParameterCount `yaml:"parameters,omitempty" json:"parameters,omitempty"`
	Architecture *Architecture  `yaml:"architecture,omitempty" json:"architecture,omitempty"`
	HFConfig     string         `yaml:"hf_config,omitempty" json:"hf_config,omitempty"`
}

// Resolve returns the Model. baseDir resolves a relative hf_config path (the
// targets file's directory, as Prometheus does for paths in its config); ""
// means the working directory.
func (s ModelSource) Resolve(baseDir string) (Model, error) {
	if err := s.validate(); err != nil {
		return Model{}, err
	}
	switch {
	case s.Preset != "":
		return LookupPreset(s.Preset)
	case s.Parameters != 0:
		return s.Parameters.model(), nil
	case s.Architecture != nil:
		return s.Architecture.Model(s.String())
	default:
		path := s.HFConfig
		if baseDir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		m, err := LoadHFConfig(path)
		if err != nil {
			return Model{}, err
		}
		m.Name = s.String()
		return m, nil
	}
}

// String names the source for labels and tables: the preset name, the
// parameter count ("70B"), "<model_type> architecture" or the hf_config path
// as written.
func (s ModelSource) String() string {
	switch {
	case s.Preset != "":
		return s.Preset
	case s.Parameters != 0:
		return s.Parameters.String()
	case s.Architecture != nil:
		return s.Architecture.ModelType + " architecture"
	default:
		return s.HFConfig
	}
}

// validate checks that exactly one field is set. A ParameterCount that did
// not come through ParseParameterCount is checked here too.
func (s ModelSource) validate() error {
	var set []string
	if s.Preset != "" {
		set = append(set, "preset")
	}
	if s.Parameters != 0 {
		if err := s.Parameters.validate(); err != nil {
			return err
		}
		set = append(set, "parameters")
	}
	if s.Architecture != nil {
		set = append(set, "architecture")
	}
	if s.HFConfig != "" {
		set = append(set, "hf_config")
	}
	switch len(set) {
	case 1:
		return nil
	case 0:
		return invalidf("set one of preset, parameters, architecture or hf_config")
	default:
		return invalidf("%s are set; set exactly one of preset, parameters, architecture or hf_config",
			strings.Join(set, " and "))
	}
}
