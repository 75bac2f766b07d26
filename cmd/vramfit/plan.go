package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"

	"github.com/vramfit/vramfit/collector"
	"github.com/vramfit/vramfit/estimator"
)

// maxReplicas bounds --replicas, so that the GPUs the replicas need cannot
// overflow.
const maxReplicas = 1 << 20

// planFlags are the flags of `vramfit plan`: the targets, as estimate takes
// them, and the Prometheus that holds the fleet.
type planFlags struct {
	*targetFlags
	url, selector, httpConfig, output string
	maxAge, lookback, timeout         time.Duration
	replicas                          int
}

func newPlanCommand(app *kingpin.Application) command {
	clause := app.Command("plan", "Plan targets on the fleet whose GPUs Prometheus holds: per host whether it fits now and when idle, "+
		"where the replicas go, and how many more GPUs they need.")
	f := &planFlags{targetFlags: addTargetFlags(clause, "--method, --replicas, --output and the --prometheus flags")}
	clause.Flag("prometheus.url", "Address of the Prometheus that scrapes the agents, such as http://prometheus:9090.").
		PlaceHolder("URL").Required().StringVar(&f.url)
	clause.Flag("prometheus.selector", `Label matchers that narrow the agents, such as job="vramfit",instance=~"gpu-.*".`).
		PlaceHolder("MATCHERS").StringVar(&f.selector)
	clause.Flag("prometheus.http-config.file", "HTTP client configuration for Prometheus (TLS, basic auth, bearer token), in Prometheus's http_config format.").
		PlaceHolder("FILE").StringVar(&f.httpConfig)
	clause.Flag("prometheus.max-age", "Leave out, as stale, an agent whose newest GPU sample is older than this.").
		Default("2m").DurationVar(&f.maxAge)
	clause.Flag("prometheus.lookback", "An agent Prometheus scraped within this window counts as part of the fleet, stale or not.").
		Default("1h").DurationVar(&f.lookback)
	clause.Flag("prometheus.timeout", "Time limit for all the queries to Prometheus.").Default("30s").DurationVar(&f.timeout)
	clause.Flag("replicas", "Replicas of each target to place across the fleet.").Default("1").IntVar(&f.replicas)
	clause.Flag("output", "Output format: table or json (one object per target and line).").Default("table").EnumVar(&f.output, "table", "json")
	return command{clause: clause, run: f.run}
}

func (f *planFlags) run(e env) int {
	fail := func(status int, err error) int {
		fmt.Fprintf(e.stderr, "%s plan: %v\n", programName, err)
		return status
	}
	query, err := f.fleetQuery(e)
	if err != nil {
		return fail(2, err)
	}
	targets, err := f.targets()
	if err != nil {
		return fail(2, err)
	}
	if len(targets) == 0 {
		return fail(2, fmt.Errorf("--config.file %s holds no target: nothing to plan", f.configFile))
	}
	sets := make([]*collector.Targets, len(targets))
	for i, t := range targets {
		if sets[i], err = collector.NewTargets([]estimator.Target{t}); err != nil {
			return fail(2, err)
		}
		for _, w := range sets[i].Estimations()[0].Warnings() {
			fmt.Fprintf(e.stderr, "%s plan: %s: warning: %s\n", programName, t.Name, w)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	query.at = time.Now()
	fl, err := query.read(ctx)
	if err != nil {
		return fail(1, err)
	}
	for _, s := range fl.stale {
		fmt.Fprintf(e.stderr, "%s plan: warning: left out %s (job %s): %s\n", programName, s.Instance, s.Job, s.Reason)
	}
	out := json.NewEncoder(e.stdout)
	for i, set := range sets {
		p := planTarget(targets[i].Name, set, fl, f.replicas)
		if f.output == "json" {
			if err := out.Encode(p); err != nil {
				return fail(1, err)
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		writePlanTable(e.stdout, p)
	}
	return 0
}

// fleetQuery checks the flags about Prometheus and returns the query they
// describe.
func (f *planFlags) fleetQuery(e env) (*fleetQuery, error) {
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--prometheus.url %q: want an http:// or https:// address such as http://prometheus:9090", f.url)
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"--prometheus.max-age", f.maxAge}, {"--prometheus.lookback", f.lookback}, {"--prometheus.timeout", f.timeout}} {
		if d.value <= 0 {
			return nil, fmt.Errorf("%s %s: want a positive duration such as 2m", d.flag, d.value)
		}
	}
	if f.replicas < 1 || f.replicas > maxReplicas {
		return nil, fmt.Errorf("--replicas %d: want 1 to %d", f.replicas, maxReplicas)
	}
	httpConfig := config.DefaultHTTPClientConfig
	if f.httpConfig != "" {
		c, _, err := config.LoadHTTPConfigFile(f.httpConfig)
		if err != nil {
			return nil, fmt.Errorf("--prometheus.http-config.file: %w", err)
		}
		httpConfig = *c
	}
	rt, err := config.NewRoundTripperFromConfig(httpConfig, programName)
	if err != nil {
		return nil, fmt.Errorf("--prometheus.http-config.file: %w", err)
	}
	client, err := api.NewClient(api.Config{Address: f.url, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("--prometheus.url %q: %w", f.url, err)
	}
	selector := strings.TrimSpace(f.selector)
	if strings.HasPrefix(selector, "{") && strings.HasSuffix(selector, "}") {
		selector = selector[1 : len(selector)-1]
	}
	return &fleetQuery{
		api: v1.NewAPI(client), url: u.Redacted(), selector: selector,
		lookback: f.lookback, maxAge: f.maxAge,
		warn: func(msg string) { fmt.Fprintf(e.stderr, "%s plan: warning: %s\n", programName, msg) },
	}, nil
}
