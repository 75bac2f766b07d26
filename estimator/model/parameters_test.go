package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestParseParameterCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ParameterCount
		wantErr string
	}{
		{in: "70B", want: 70_000_000_000},
		{in: "70b", want: 70_000_000_000},
		{in: "7.24e9", want: 7_240_000_000},
		{in: "314B", want: 314_000_000_000},
		{in: "1.5T", want: 1_500_000_000_000},
		{in: "125M", want: 125_000_000},
		{in: "124439808", want: 124_439_808},
		{in: " 8.03B ", want: 8_030_000_000},
		{in: "0.5K", want: 500},
		{in: "1e15", want: MaxParameters},
		{in: "1000T", want: MaxParameters},
		{in: "7.241732096B", want: 7_241_732_096},
		{in: "1.2e-3M", want: 1200},
		{in: "", wantErr: `parameter count "": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
		{in: "seventy", wantErr: `parameter count "seventy": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
		{in: "-70B", wantErr: `parameter count "-70B": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
		{in: "70G", wantErr: `parameter count "70G": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
		{in: "0", wantErr: `parameter count "0" must be greater than 0`},
		{in: "0.0B", wantErr: `parameter count "0.0B" must be greater than 0`},
		{in: "1.5", wantErr: `parameter count "1.5" is not a whole number of parameters`},
		{in: "7", wantErr: `parameter count "7" means 7 parameters; did you mean 7B? A count without a suffix (K, M, B, T) or an exponent must be at least 1000000`},
		{in: "999999", wantErr: `parameter count "999999" means 999999 parameters; did you mean 999999B? A count without a suffix (K, M, B, T) or an exponent must be at least 1000000`},
		{in: "1000000", want: 1_000_000},
		{in: "7e0", want: 7},
		{in: "1.0000000001B", wantErr: `parameter count "1.0000000001B" is not a whole number of parameters`},
		{in: "1001T", wantErr: `parameter count "1001T" is above the limit of 1e15`},
		{in: "1e999", wantErr: `parameter count "1e999" is above the limit of 1e15`},
		{in: "1e-999", wantErr: `parameter count "1e-999" is not a whole number of parameters`},
		{in: "1e1000", wantErr: `parameter count "1e1000": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
		{in: "NaN", wantErr: `parameter count "NaN": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
		{in: "Inf", wantErr: `parameter count "Inf": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseParameterCount(tc.in)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidModel)
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParameterCountString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   ParameterCount
		want string
	}{
		{70_000_000_000, "70B"},
		{7_240_000_000, "7.24B"},
		{1_500_000_000_000, "1.5T"},
		{125_000_000, "125M"},
		{124_439_808, "124439808"},
		{6_738_415_616, "6738415616"},
		{500, "500e0"},
		{1_000, "1K"},
		{1_500, "1.5K"},
		{1_000_000, "1M"},
		{1_001_000, "1.001M"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.in.String())
		back, err := ParseParameterCount(tc.want)
		require.NoError(t, err)
		assert.Equal(t, tc.in, back, "%s parses back", tc.want)
	}
}

func TestParameterCountUnmarshalYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc     string
		want    ParameterCount
		wantErr string
	}{
		{doc: "parameters: 70B", want: 70_000_000_000},
		{doc: "parameters: 7.24e9", want: 7_240_000_000},
		{doc: "parameters: 124439808", want: 124_439_808},
		{doc: "parameters: \"1.5T\"", want: 1_500_000_000_000},
		// A float this long would lose digits through float64; the text is exact.
		{doc: "parameters: 405853388800", want: 405_853_388_800},
		{doc: "parameters: [70B]", wantErr: "line 1: parameters: want a number such as 70B or 7.24e9"},
		{doc: "\nparameters: 2e15", wantErr: `line 2: parameters: parameter count "2e15" is above the limit of 1e15`},
		{doc: "parameters: true", wantErr: `line 1: parameters: parameter count "true": want a number such as 70B, 1.5T, 7.24e9 or 124439808`},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			var v struct {
				Parameters ParameterCount `yaml:"parameters"`
			}
			err := yaml.Unmarshal([]byte(tc.doc), &v)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidModel)
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, v.Parameters)
		})
	}
}

// FuzzParseParameterCount: no panic; a valid count is positive, bounded and
// survives String.
func FuzzParseParameterCount(f *testing.F) {
	for _, seed := range []string{"70B", "7.24e9", "1.5T", "124439808", "0", "1e999", "1.5", "9.99999e14", "-1", "1e-3K"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseParameterCount(s)
		if err != nil {
			return
		}
		if p <= 0 || p > MaxParameters {
			t.Fatalf("ParseParameterCount(%q) = %d, outside (0, 1e15]", s, p)
		}
		back, err := ParseParameterCount(p.String())
		if err != nil || back != p {
			t.Fatalf("%d.String() = %q parses to %d, %v", p, p.String(), back, err)
		}
	})
}
