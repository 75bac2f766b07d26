//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/deploy"
)

// shortFor replaces every alert's `for:` in the rules Prometheus loads, so
// that an alert fires seconds after its condition holds instead of minutes.
// It is longer than two scrape intervals, so that one scrape lost while the
// agent restarts does not fire VramfitExporterDown.
const shortFor = "3s"

// writeShortRules writes the rule files of deployDir, with every `for:`
// shortened, as one file under dir, and returns the rules as loaded.
func writeShortRules(t *testing.T, deployDir, dir string) (string, []deploy.RuleGroup) {
	t.Helper()
	groups, err := deploy.LoadRuleGroups(deployDir)
	require.NoError(t, err)
	short := make([]deploy.RuleGroup, len(groups))
	for i, g := range groups {
		short[i] = g
		short[i].Rules = append([]deploy.Rule(nil), g.Rules...)
		for j := range short[i].Rules {
			if short[i].Rules[j].For != "" {
				short[i].Rules[j].For = shortFor
			}
		}
	}
	data, err := yaml.Marshal(map[string][]deploy.RuleGroup{"groups": short})
	require.NoError(t, err)
	path := filepath.Join(dir, "rules.yml")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path, groups
}

// writePrometheusConfig writes a configuration that scrapes the agents every
// second as job "vramfit", the name the rules and the dashboard expect, and
// evaluates the rules every second.
func writePrometheusConfig(t *testing.T, path, rulesFile string, agentAddrs ...string) {
	t.Helper()
	config := map[string]any{
		"global": map[string]string{
			"scrape_interval":     "1s",
			"scrape_timeout":      "1s",
			"evaluation_interval": "1s",
		},
		"rule_files": []string{rulesFile},
		"scrape_configs": []map[string]any{{
			"job_name":       job,
			"static_configs": []map[string]any{{"targets": agentAddrs}},
		}},
	}
	data, err := yaml.Marshal(config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// promAPI is a client of Prometheus's HTTP API.
type promAPI struct {
	base   string
	client *http.Client
}

func newPromAPI(addr string) *promAPI {
	return &promAPI{base: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
}

// get calls an API endpoint and decodes its data into v. An error status,
// or any warning, is an error.
func (p *promAPI) get(path string, params url.Values, v any) error {
	u := p.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := p.client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var r struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s answered %s that is not the API's JSON: %w: %.200s", path, resp.Status, err, body)
	}
	switch {
	case r.Status != "success":
		return fmt.Errorf("%s: %s: %s", resp.Status, r.ErrorType, r.Error)
	case len(r.Warnings) > 0:
		return fmt.Errorf("warnings: %s", strings.Join(r.Warnings, "; "))
	}
	return json.Unmarshal(r.Data, v)
}

// sample is one series of a query's result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// query evaluates expr now and returns its series; a scalar counts as one
// series without labels.
func (p *promAPI) query(expr string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var series []sample
		return series, json.Unmarshal(data.Result, &series)
	case "scalar":
		var value [2]any
		return []sample{{Value: value}}, json.Unmarshal(data.Result, &value)
	}
	return nil, fmt.Errorf("result of type %q, want a vector or a scalar", data.ResultType)
}

// queryRange evaluates expr over [start, end] every step, as Grafana does
// for a time series panel, and returns the number of series.
func (p *promAPI) queryRange(expr string, start, end time.Time, step time.Duration) (int, error) {
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	err := p.get("/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {fmt.Sprint(start.Unix())},
		"end":   {fmt.Sprint(end.Unix())},
		"step":  {fmt.Sprint(step.Seconds())},
	}, &data)
	return len(data.Result), err
}

// value is the sample's value as Prometheus prints it.
func (s sample) value() string {
	v, _ := s.Value[1].(string)
	return v
}

// alert is an active alert: pending or firing.
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// key names the alert by its name and the labels that tell its instances
// apart on one agent: `VramfitGPUDown gpu=7`.
func (a alert) key() string {
	k := a.Labels["alertname"]
	for _, label := range []string{"collector", "gpu", "target"} {
		if v, ok := a.Labels[label]; ok {
			k += " " + label + "=" + v
		}
	}
	return k
}

func (p *promAPI) alerts() ([]alert, error) {
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// loadedRule is a rule as Prometheus reports it after evaluating it.
type loadedRule struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

func (p *promAPI) rules() ([]loadedRule, error) {
	var data struct {
		Groups []struct {
			Rules []loadedRule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var rules []loadedRule
	for _, g := range data.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules, nil
}

// scrapeTarget is a target of Prometheus's service discovery.
type scrapeTarget struct {
	ScrapePool string `json:"scrapePool"`
	ScrapeURL  string `json:"scrapeUrl"`
	Health     string `json:"health"`
	LastError  string `json:"lastError"`
}

func (p *promAPI) targets() ([]scrapeTarget, error) {
	var data struct {
		ActiveTargets []scrapeTarget `json:"activeTargets"`
	}
	err := p.get("/api/v1/targets", nil, &data)
	return data.ActiveTargets, err
}

// waitAlerts polls the alerts until the active ones are exactly want, all
// firing, and returns them. Comparing the pending ones too means an alert
// that should not be there is caught even if its `for:` has not run out.
func (p *promAPI) waitAlerts(t *testing.T, want []string) []alert {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(alertTimeout)
	var last []string
	for {
		alerts, err := p.alerts()
		require.NoError(t, err, "GET /api/v1/alerts")
		keys, firing := make([]string, 0, len(alerts)), true
		for _, a := range alerts {
			keys = append(keys, a.key())
			firing = firing && a.State == "firing"
		}
		sort.Strings(keys)
		if firing && slices.Equal(keys, want) {
			return alerts
		}
		last = last[:0]
		for _, a := range alerts {
			last = append(last, a.key()+" ("+a.State+")")
		}
		sort.Strings(last)
		if time.Now().After(deadline) {
			t.Fatalf("the active alerts did not become %q, all firing, within %s; the last seen were %q",
				want, alertTimeout, last)
		}
		time.Sleep(pollInterval)
	}
}
