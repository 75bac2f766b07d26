package main

import (
	"fmt"

	"github.com/alecthomas/kingpin/v2"
)

func newInventoryCommand(app *kingpin.Application) command {
	clause := app.Command("inventory", "List the local GPUs (or the fake fleet).")
	return command{clause: clause, run: func(e env) int {
		fmt.Fprintln(e.stderr, "vramfit inventory: not implemented yet")
		return 1
	}}
}
