package main

import (
	"fmt"

	"github.com/alecthomas/kingpin/v2"
)

func newCheckConfigCommand(app *kingpin.Application) command {
	clause := app.Command("check-config", "Validate a targets file and exit.")
	return command{clause: clause, run: func(e env) int {
		fmt.Fprintln(e.stderr, "vramfit check-config: not implemented yet")
		return 1
	}}
}
