package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/estimator"
)

func newCheckConfigCommand(app *kingpin.Application) command {
	clause := app.Command("check-config", "Validate a targets file and exit: 0 when every target is valid, else 1 and each error (file:line: field: why). Warnings go to stderr and do not fail.")
	var file string
	clause.Arg("file", "Targets file (YAML).").Required().StringVar(&file)
	return command{clause: clause, run: func(e env) int {
		targets, err := collector.LoadTargets(file)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return 1
		}
		estimations := targets.Estimations()
		for i, est := range estimations {
			for _, w := range est.Warnings() {
				fmt.Fprintf(e.stderr, "%s: targets[%d] (%s): warning: %s\n", file, i, est.Target().Name, w)
			}
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", file, summary(estimations))
		return 0
	}}
}

// summary counts valid targets by workload: "6 valid targets (3 inference, 1 lora, ...)".
func summary(estimations []*estimator.Estimation) string {
	if len(estimations) == 0 {
		return "valid, no targets"
	}
	byWorkload := map[estimator.Workload]int{}
	for _, est := range estimations {
		byWorkload[est.Workload()]++
	}
	parts := make([]string, 0, len(byWorkload))
	for _, w := range slices.Sorted(maps.Keys(byWorkload)) {
		parts = append(parts, fmt.Sprintf("%d %s", byWorkload[w], w))
	}
	noun := "targets"
	if len(estimations) == 1 {
		noun = "target"
	}
	return fmt.Sprintf("%d valid %s (%s)", len(estimations), noun, strings.Join(parts, ", "))
}
