package main

import (
	"fmt"

	"github.com/alecthomas/kingpin/v2"
)

func newServeCommand(app *kingpin.Application) command {
	clause := app.Command("serve", "Run the exporter (the default command).").Default()
	return command{clause: clause, run: func(e env) int {
		fmt.Fprintln(e.stderr, "vramfit serve: not implemented yet")
		return 1
	}}
}
