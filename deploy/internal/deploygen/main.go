// Command deploygen writes the generated files of deploy/ and prints the
// dashboard's queries and the documentation's PromQL examples as rule files, so
// that promtool can check their PromQL.
//
//	deploygen [-deploy DIR] manifests
//	deploygen [-deploy DIR] [-job NAME] dashboard-rules
//	deploygen [-deploy DIR] doc-rules
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/deploy"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deploygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	deployDir := fs.String("deploy", "deploy", "the deploy directory")
	job := fs.String("job", "vramfit", "value of the dashboard's $job variable")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: deploygen [flags] manifests|dashboard-rules|doc-rules")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	var err error
	switch fs.Arg(0) {
	case "manifests":
		err = writeManifests(*deployDir, stdout)
	case "dashboard-rules":
		err = printDashboardRules(*deployDir, *job, stdout)
	case "doc-rules":
		err = printDocRules(filepath.Join(*deployDir, ".."), stdout)
	default:
		fmt.Fprintf(stderr, "deploygen: unknown command %q: want manifests, dashboard-rules or doc-rules\n", fs.Arg(0))
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "deploygen: %v\n", err)
		return 1
	}
	return 0
}

func writeManifests(deployDir string, stdout io.Writer) error {
	files, err := deploy.Generate(deployDir)
	if err != nil {
		return err
	}
	if err := deploy.Write(deployDir, files); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s/%s\n", deployDir, f.Path)
	}
	return nil
}

// nonNameChars are the characters a recording rule's name cannot hold.
var nonNameChars = regexp.MustCompile(`[^a-zA-Z0-9_:]+`)

// printDashboardRules prints each dashboard query, with "All" selected, as a
// recording rule named after where it comes from, for `promtool check rules`.
func printDashboardRules(deployDir, job string, stdout io.Writer) error {
	d, err := deploy.LoadDashboard(deployDir)
	if err != nil {
		return err
	}
	queries, err := d.Queries()
	if err != nil {
		return err
	}
	values := d.SelectAll(map[string]string{"job": job})
	group := deploy.RuleGroup{Name: "dashboard " + d.UID}
	for i, q := range queries {
		name := fmt.Sprintf("dashboard:q%02d_%s", i+1, nonNameChars.ReplaceAllString(q.Source, "_"))
		group.Rules = append(group.Rules, deploy.Rule{Record: name, Expr: deploy.ExpandVariables(q.Expr, values)})
	}
	return printRuleGroup(group, stdout)
}

// printDocRules prints each ```promql example of the README and docs/ under
// root as a recording rule named after its file and line.
func printDocRules(root string, stdout io.Writer) error {
	queries, err := deploy.DocQueries(root)
	if err != nil {
		return err
	}
	group := deploy.RuleGroup{Name: "documentation examples"}
	for _, q := range queries {
		name := "doc:" + nonNameChars.ReplaceAllString(q.Source, "_")
		group.Rules = append(group.Rules, deploy.Rule{Record: name, Expr: q.Expr})
	}
	return printRuleGroup(group, stdout)
}

func printRuleGroup(group deploy.RuleGroup, stdout io.Writer) error {
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	if err := enc.Encode(map[string][]deploy.RuleGroup{"groups": {group}}); err != nil {
		return err
	}
	return enc.Close()
}
