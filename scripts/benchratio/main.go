// Command benchratio divides the cost of a scrape by its floor. It reads
// the output of `go test -bench` holding BenchmarkScrape and
// BenchmarkScrapeFloor results, run several times, and prints for each case
// of the grid the ratios Scrape/Floor of time and allocations. The time
// ratio divides the best (least) time of each: other processes on the
// machine only ever add time, so the best run is the closest to the cost
// itself. Beside it are the median, least and greatest of the ratios
// between each scrape and the floor measured right after it in the same
// process. It exits 1 when a goal of docs/performance.md is missed.
//
//	benchratio -cases          prints the -test.bench pattern of each case
//	go test … | benchratio     prints the table
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vramfit/vramfit/collector/scrapegrid"
)

// The goals of the scrape's cost against the floor.
const (
	goalThen = 1.25 // at goalCase
	goalAll  = 1.5  // anywhere in the grid
)

var goalCase = gridCase{gpus: 8, targets: 100}

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchratio", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listCases := fs.Bool("cases", false, "print the -test.bench pattern of each case, one a line, and exit")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: go test -bench … | benchratio, or benchratio -cases")
		return 2
	}
	if *listCases {
		for _, c := range cases() {
			fmt.Fprintf(stdout, "^BenchmarkScrape(Floor)?$/^gpus=%d$/^targets=%d$\n", c.gpus, c.targets)
		}
		return 0
	}
	results, err := parse(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "benchratio: %v\n", err)
		return 1
	}
	rows, err := ratios(results)
	if err != nil {
		fmt.Fprintf(stderr, "benchratio: %v\n", err)
		return 1
	}
	missed := printTable(stdout, rows)
	if len(missed) > 0 {
		fmt.Fprintf(stderr, "benchratio: goal missed: %s\n", strings.Join(missed, "; "))
		return 1
	}
	return 0
}

// gridCase is one case of the grid, a sub-benchmark of both benchmarks.
type gridCase struct{ gpus, targets int }

func (c gridCase) name() string { return fmt.Sprintf("gpus=%d/targets=%d", c.gpus, c.targets) }

func cases() []gridCase {
	var out []gridCase
	for _, g := range scrapegrid.GPUs {
		for _, t := range scrapegrid.Targets {
			out = append(out, gridCase{g, t})
		}
	}
	return out
}

// result is one line of benchmark output.
type result struct {
	floor          bool
	name           string // the case: gpus=G/targets=T
	nsPerOp        float64
	allocsPerOp    float64
	hasAllocsPerOp bool
}

// parse reads the results of BenchmarkScrape and BenchmarkScrapeFloor, in
// the order they ran; other lines are skipped. A benchmark that failed
// fails the table.
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "--- FAIL") || text == "FAIL" {
			return nil, fmt.Errorf("line %d: a benchmark failed: %s", line, text)
		}
		fields := strings.Fields(text)
		if len(fields) < 4 {
			continue
		}
		top, sub, ok := strings.Cut(trimProcs(fields[0]), "/")
		if !ok || (top != "BenchmarkScrape" && top != "BenchmarkScrapeFloor") {
			continue
		}
		res := result{floor: top == "BenchmarkScrapeFloor", name: sub}
		// After the name and the iterations come value-unit pairs.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: value %q of %s: %w", line, fields[i], fields[i+1], err)
			}
			switch fields[i+1] {
			case "ns/op":
				res.nsPerOp = v
			case "allocs/op":
				res.allocsPerOp, res.hasAllocsPerOp = v, true
			}
		}
		if res.nsPerOp <= 0 || !res.hasAllocsPerOp {
			return nil, fmt.Errorf("line %d: want ns/op above 0 and allocs/op (run with -benchmem): %s", line, text)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// trimProcs drops the -GOMAXPROCS suffix the testing package appends.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

// row is one case of the table.
type row struct {
	gridCase
	pairs                     int
	scrapeNs, floorNs         float64 // the best of the runs
	timeRatio                 float64 // scrapeNs / floorNs
	pairMedian                float64 // the pairs' time ratios
	pairMin, pairMax          float64
	scrapeAllocs, floorAllocs float64 // medians
	allocRatio                float64 // the median of the pairs' ratios
}

// ratios pairs each scrape with the floor of the same case measured next,
// and sums up the runs of each case, in the grid's order.
func ratios(results []result) ([]row, error) {
	waiting := map[string][]result{} // scrapes not paired yet, by case
	pairs := map[string][][2]result{}
	for _, r := range results {
		if !r.floor {
			waiting[r.name] = append(waiting[r.name], r)
			continue
		}
		q := waiting[r.name]
		if len(q) == 0 {
			return nil, fmt.Errorf("BenchmarkScrapeFloor/%s ran before any BenchmarkScrape/%s to pair it with", r.name, r.name)
		}
		pairs[r.name] = append(pairs[r.name], [2]result{q[0], r})
		waiting[r.name] = q[1:]
	}
	var rows []row
	var missing []string
	for _, c := range cases() {
		ps := pairs[c.name()]
		if len(ps) == 0 {
			missing = append(missing, c.name())
			continue
		}
		var times, allocs, sNs, fNs, sAl, fAl []float64
		for _, p := range ps {
			s, f := p[0], p[1]
			times = append(times, s.nsPerOp/f.nsPerOp)
			allocs = append(allocs, s.allocsPerOp/max(f.allocsPerOp, 1))
			sNs, fNs = append(sNs, s.nsPerOp), append(fNs, f.nsPerOp)
			sAl, fAl = append(sAl, s.allocsPerOp), append(fAl, f.allocsPerOp)
		}
		rows = append(rows, row{
			gridCase: c, pairs: len(ps),
			scrapeNs: slices.Min(sNs), floorNs: slices.Min(fNs), timeRatio: slices.Min(sNs) / slices.Min(fNs),
			pairMedian: median(times), pairMin: slices.Min(times), pairMax: slices.Max(times),
			scrapeAllocs: median(sAl), floorAllocs: median(fAl), allocRatio: median(allocs),
		})
	}
	if len(missing) > 0 {
		return nil, errors.New("no scrape and floor pair for " + strings.Join(missing, ", "))
	}
	return rows, nil
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// printTable writes the table and returns the goals missed.
func printTable(w io.Writer, rows []row) (missed []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tseries\tscrape µs\tfloor µs\ttime ratio\tpaired: median\t(least–most)\tscrape allocs\tfloor allocs\talloc ratio\truns\t")
	for _, r := range rows {
		goal := goalAll
		if r.gridCase == goalCase {
			goal = goalThen
		}
		mark := ""
		if r.timeRatio > goal || r.allocRatio > goal {
			mark = " !"
			missed = append(missed, fmt.Sprintf("%s time %.2f allocs %.2f, goal ≤ %.2f", r.name(), r.timeRatio, r.allocRatio, goal))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t(%.2f–%.2f)\t%.0f\t%.0f\t%.2f%s\t%d\t\n",
			r.name(), scrapegrid.Series(r.gpus, r.targets), r.scrapeNs/1e3, r.floorNs/1e3, r.timeRatio,
			r.pairMedian, r.pairMin, r.pairMax, r.scrapeAllocs, r.floorAllocs, r.allocRatio, mark, r.pairs)
	}
	tw.Flush()
	fmt.Fprintln(w, "scrape and floor µs: the best of the runs; time ratio: the quotient of those; allocs and alloc ratio: medians of the runs")
	fmt.Fprintf(w, "goals: Scrape/Floor ≤ %.2f at %s and ≤ %.2f everywhere, in time and allocations\n", goalThen, goalCase.name(), goalAll)
	return missed
}
