package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gridOutput is benchmark output for every case, each scrape followed by
// its floor; scrape sets the scrape's ns/op and allocs/op of one case.
func gridOutput(runs int, scrape func(c gridCase, run int) (ns, allocs float64)) string {
	var out strings.Builder
	out.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/vramfit/vramfit/cmd/vramfit\n")
	for run := range runs {
		for _, c := range cases() {
			ns, allocs := scrape(c, run)
			fmt.Fprintf(&out, "BenchmarkScrape/%s-2 \t 100\t %.0f ns/op\t 14.00 nvml-calls/op\t 5000 B/op\t %.0f allocs/op\n", c.name(), ns, allocs)
			fmt.Fprintf(&out, "BenchmarkScrapeFloor/%s-2 \t 100\t 1000 ns/op\t 4000 B/op\t 100 allocs/op\n", c.name())
		}
		out.WriteString("PASS\n")
	}
	return out.String()
}

func runRatio(t *testing.T, input string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(input), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// The time ratio divides the best runs: a run slowed by another process
// does not move it, nor the allocation ratio, a median.
func TestRatioTable(t *testing.T) {
	input := gridOutput(3, func(c gridCase, run int) (float64, float64) {
		if c != goalCase {
			return 1000, 100
		}
		return []float64{1200, 9000, 1100}[run], []float64{104, 180, 104}[run]
	})
	code, stdout, stderr := runRatio(t, input)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 1+len(cases())+2, stdout)
	assert.Regexp(t, `^\s*case\s+series\s+scrape µs\s+floor µs\s+time ratio\s+paired: median\s+\(least–most\)\s+scrape allocs\s+floor allocs\s+alloc ratio\s+runs$`, lines[0])
	// gpus=8/targets=100: 8 + 9 per GPU + 13.5 per target + 2 series (scrapegrid.Series).
	assert.Regexp(t, `^\s*gpus=8/targets=100\s+1432\s+1\.1\s+1\.0\s+1\.10\s+1\.20\s+\(1\.10–9\.00\)\s+104\s+100\s+1\.04\s+3$`, lines[7])
	assert.Regexp(t, `^\s*gpus=8/targets=10\s+217\s+1\.0\s+1\.0\s+1\.00\s+1\.00\s+\(1\.00–1\.00\)\s+100\s+100\s+1\.00\s+3$`, lines[6])
	assert.Contains(t, lines[len(lines)-1], "goals: Scrape/Floor ≤ 1.25 at gpus=8/targets=100 and ≤ 1.50 everywhere")
}

func TestRatioGoalMissed(t *testing.T) {
	tests := []struct {
		name   string
		scrape func(c gridCase, run int) (float64, float64)
		missed string
	}{
		{"time at the goal case", func(c gridCase, _ int) (float64, float64) {
			if c == goalCase {
				return 1300, 100
			}
			return 1000, 100
		}, "gpus=8/targets=100 time 1.30 allocs 1.00, goal ≤ 1.25"},
		{"allocations elsewhere", func(c gridCase, _ int) (float64, float64) {
			if c.gpus == 64 && c.targets == 1000 {
				return 1000, 151
			}
			return 1000, 100
		}, "gpus=64/targets=1000 time 1.00 allocs 1.51, goal ≤ 1.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runRatio(t, gridOutput(1, tt.scrape))
			assert.Equal(t, 1, code)
			assert.Contains(t, stdout, " !")
			assert.Equal(t, "benchratio: goal missed: "+tt.missed+"\n", stderr)
		})
	}
}

func TestRatioBadInput(t *testing.T) {
	full := gridOutput(1, func(gridCase, int) (float64, float64) { return 1000, 100 })
	tests := []struct {
		name, input, err string
	}{
		{"empty", "", "no scrape and floor pair for gpus=1/targets=1, "},
		{"a case missing", strings.Replace(full, "BenchmarkScrapeFloor/gpus=64/targets=10-2", "BenchmarkOther/gpus=64/targets=10-2", 1),
			"no scrape and floor pair for gpus=64/targets=10\n"},
		{"floor first", "BenchmarkScrapeFloor/gpus=1/targets=1-2 \t 10\t 1 ns/op\t 1 B/op\t 1 allocs/op\n",
			"BenchmarkScrapeFloor/gpus=1/targets=1 ran before any BenchmarkScrape/gpus=1/targets=1 to pair it with"},
		{"without -benchmem", "BenchmarkScrape/gpus=1/targets=1-2 \t 10\t 100 ns/op\n", "line 1: want ns/op above 0 and allocs/op (run with -benchmem)"},
		{"bad number", "BenchmarkScrape/gpus=1/targets=1-2 \t 10\t 1e ns/op\t 1 allocs/op\n", `line 1: value "1e" of ns/op: `},
		{"a failed benchmark", "--- FAIL: BenchmarkScrape/gpus=1/targets=1\n", "line 1: a benchmark failed: --- FAIL: BenchmarkScrape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runRatio(t, tt.input)
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "benchratio: "+tt.err)
		})
	}
}

// -cases lists a -test.bench pattern per case that selects the scrape and
// its floor, and nothing else.
func TestRatioCases(t *testing.T) {
	code, stdout, _ := runRatio(t, "", "-cases")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 12)
	assert.Equal(t, `^BenchmarkScrape(Floor)?$/^gpus=1$/^targets=1$`, lines[0])
	assert.Equal(t, `^BenchmarkScrape(Floor)?$/^gpus=64$/^targets=1000$`, lines[11])
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkScrape/gpus=1/targets=1-16": "BenchmarkScrape/gpus=1/targets=1",
		"BenchmarkScrape/gpus=1/targets=1":    "BenchmarkScrape/gpus=1/targets=1",
		"BenchmarkScrape/a-b":                 "BenchmarkScrape/a-b",
	} {
		assert.Equal(t, want, trimProcs(in), in)
	}
}
