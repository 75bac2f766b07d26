package main

import (
	"fmt"

	"github.com/alecthomas/kingpin/v2"
)

func newEstimateCommand(app *kingpin.Application) command {
	clause := app.Command("estimate", "Estimate the GPU memory a model target needs.")
	return command{clause: clause, run: func(e env) int {
		fmt.Fprintln(e.stderr, "vramfit estimate: not implemented yet")
		return 1
	}}
}
