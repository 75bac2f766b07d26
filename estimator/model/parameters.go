package model

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxParameters bounds every parameter count (1e15, a thousand times the
// largest published models) so that byte arithmetic on it cannot overflow.
const MaxParameters = 1_000_000_000_000_000

// ParameterCount is a number of parameters as written in a targets file or on
// the command line: 70B, 7.24e9, 314B, 1.5T, 125M, 124439808.
type ParameterCount int64

// parameterCountSyntax is a decimal number with an optional exponent and an
// optional K/M/B/T suffix. Exponents have at most three digits so that the
// exact arithmetic below stays small whatever the input.
var parameterCountSyntax = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]{1,3}))?([kKmMbBtT]?)$`)

// suffixExponents maps a suffix to its power of ten.
var suffixExponents = map[string]int{"": 0, "k": 3, "m": 6, "b": 9, "t": 12}

// minBareParameters is the smallest count written without a suffix or an
// exponent: "7" is seven parameters, which no one plans GPUs for, and
// almost certainly a count of billions whose B was left out.
const minBareParameters = 1_000_000

// maxParameterCountText bounds the input before any parsing.
const maxParameterCountText = 64

// ParseParameterCount parses a parameter count. It must be a whole number
// greater than 0 and at most MaxParameters.
func ParseParameterCount(s string) (ParameterCount, error) {
	text := strings.TrimSpace(s)
	if len(text) > maxParameterCountText {
		return 0, invalidf("parameter count %.20q... is %d characters long; want a number such as 70B, 7.24e9 or 124439808",
			text, len(text))
	}
	m := parameterCountSyntax.FindStringSubmatch(text)
	if m == nil {
		return 0, invalidf("parameter count %q: want a number such as 70B, 1.5T, 7.24e9 or 124439808", s)
	}
	intPart, fracPart, expPart, suffix := m[1], m[2], m[3], strings.ToLower(m[4])
	exp := suffixExponents[suffix] - len(fracPart)
	if expPart != "" {
		e, err := strconv.Atoi(expPart)
		if err != nil { // unreachable: the pattern allows at most three digits
			return 0, invalidf("parameter count %q: exponent: %w", s, err)
		}
		exp += e
	}
	// value = digits × 10^exp, computed exactly.
	value, ok := new(big.Int).SetString(intPart+fracPart, 10)
	if !ok { // unreachable: the pattern allows only digits
		return 0, invalidf("parameter count %q: want a number such as 70B", s)
	}
	ten := big.NewInt(10)
	if exp >= 0 {
		value.Mul(value, new(big.Int).Exp(ten, big.NewInt(int64(exp)), nil))
	} else {
		divisor := new(big.Int).Exp(ten, big.NewInt(int64(-exp)), nil)
		quotient, remainder := new(big.Int).QuoRem(value, divisor, new(big.Int))
		if remainder.Sign() != 0 {
			return 0, invalidf("parameter count %q is not a whole number of parameters", s)
		}
		value = quotient
	}
	if value.Sign() == 0 {
		return 0, invalidf("parameter count %q must be greater than 0", s)
	}
	if !value.IsInt64() || value.Int64() > MaxParameters {
		return 0, invalidf("parameter count %q is above the limit of 1e15", s)
	}
	if suffix == "" && expPart == "" && value.Int64() < minBareParameters {
		return 0, invalidf("parameter count %q means %s parameters; did you mean %sB? A count without a suffix (K, M, B, T) or an exponent must be at least 1000000",
			s, value, text)
	}
	return ParameterCount(value.Int64()), nil
}

// UnmarshalYAML accepts numbers (124439808, 7.24e9) and strings ("70B"); the
// scalar's text is parsed exactly, never through a float.
func (p *ParameterCount) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return invalidf("line %d: parameters: want a number such as 70B or 7.24e9", node.Line)
	}
	v, err := ParseParameterCount(node.Value)
	if err != nil {
		return invalidf("line %d: parameters: %w", node.Line, err)
	}
	*p = v
	return nil
}

// String writes the count with the largest suffix that keeps it exact with
// at most three decimals (70B, 7.24B, 1.5T), else as a plain integer (with
// an exponent below minBareParameters: 500e0); the result parses back to
// the same count.
func (p ParameterCount) String() string {
	type unit struct {
		suffix string
		size   int64
	}
	units := []unit{{"T", 1e12}, {"B", 1e9}, {"M", 1e6}}
	if p < minBareParameters { // a bare integer this small does not parse
		units = []unit{{"K", 1e3}}
	}
	for _, u := range units {
		if int64(p) < u.size || int64(p)%(u.size/1000) != 0 {
			continue
		}
		whole, rest := int64(p)/u.size, int64(p)%u.size/(u.size/1000)
		if rest == 0 {
			return strconv.FormatInt(whole, 10) + u.suffix
		}
		frac := strings.TrimRight(strconv.FormatInt(1000+rest, 10)[1:], "0")
		return strconv.FormatInt(whole, 10) + "." + frac + u.suffix
	}
	if p < minBareParameters {
		return strconv.FormatInt(int64(p), 10) + "e0"
	}
	return strconv.FormatInt(int64(p), 10)
}

// validate checks the bounds of a count that may not have been parsed.
func (p ParameterCount) validate() error {
	if p <= 0 || p > MaxParameters {
		return invalidf("parameter count %d: want more than 0 and at most 1e15", int64(p))
	}
	return nil
}

// model is the Model of a bare count: no architecture, so the memory model
// reports the KV cache and activations as unknown.
func (p ParameterCount) model() Model {
	return Model{Name: p.String(), Parameters: int64(p), ActiveParameters: int64(p)}
}
