// Command vramfit is a Prometheus exporter that holds the GPU memory of a host
// against the models planned for it, and a command-line memory planner.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
)

const programName = "vramfit"

// env is what every command receives: its output streams and the logger.
type env struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
}

// command is one kingpin command: its clause (with its flags bound) and
// the function that runs it once the arguments are parsed.
type command struct {
	clause *kingpin.CmdClause
	run    func(env) int
}

func init() {
	// kingpin puts the application's version into the man page's .TH line,
	// which must stay one line: the version alone, not version.Print's
	// build report (that is what --version prints).
	kingpin.ManPageTemplate = strings.Replace(kingpin.ManPageTemplate, "{{.App.Version}}", strconv.Quote(version.Version), 1)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run parses args and runs the chosen command; it returns the exit status so
// that deferred cleanups (NVML shutdown) run before the process exits.
func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			status = int(code)
		}
	}()
	app := kingpin.New(programName, "GPU memory fit of planned models: a Prometheus exporter and a memory planner.")
	app.Version(version.Print(programName))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	// --help and --version end the program through Terminate; unwind to
	// here instead of calling os.Exit so that tests can call run.
	app.Terminate(func(code int) { panic(exitCode(code)) })
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)

	commands := []command{
		newServeCommand(app),
		newEstimateCommand(app),
		newInventoryCommand(app),
		newCheckConfigCommand(app),
		newPlanCommand(app),
	}
	chosen, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: error: %v, try --help\n", programName, err)
		return 2
	}
	logCfg.Writer = stderr
	e := env{stdout: stdout, stderr: stderr, logger: promslog.New(logCfg)}
	for _, c := range commands {
		if c.clause.FullCommand() == chosen {
			return c.run(e)
		}
	}
	fmt.Fprintf(stderr, "%s: error: no command chosen, try --help\n", programName)
	return 2
}

// exitCode carries kingpin's requested exit status out of Parse.
type exitCode int
