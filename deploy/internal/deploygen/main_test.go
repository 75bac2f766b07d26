package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/deploy"
)

const deployDir = "../.."

func TestDashboardRules(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-deploy", deployDir, "-job", "gpu", "dashboard-rules"}, &stdout, &stderr), stderr.String())

	var file struct {
		Groups []deploy.RuleGroup `yaml:"groups"`
	}
	dec := yaml.NewDecoder(&stdout)
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&file))
	require.Len(t, file.Groups, 1)

	d, err := deploy.LoadDashboard(deployDir)
	require.NoError(t, err)
	queries, err := d.Queries()
	require.NoError(t, err)
	rules := file.Groups[0].Rules
	require.Len(t, rules, len(queries), "one rule per dashboard query")
	for i, r := range rules {
		assert.Regexp(t, `^dashboard:q[0-9]{2}_[a-zA-Z0-9_]+$`, r.Record)
		assert.NotContains(t, r.Expr, "$", "%s: variables expanded", r.Record)
		if strings.Contains(queries[i].Expr, "$job") {
			assert.Contains(t, r.Expr, `job="gpu"`, r.Record)
		}
	}
	assert.Equal(t, "dashboard:q01_panel_Where_each_target_fits_id_2_query_A", rules[0].Record)
}

func TestManifestsWritesTheGeneratedFiles(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{"prometheus/alerts.yml", deploy.ExampleTargetsFile, deploy.DashboardFile} {
		data, err := os.ReadFile(filepath.Join(deployDir, path))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, path), data, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "kubernetes"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(deploy.ChartRulesFile)), 0o755))

	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-deploy", dir, "manifests"}, &stdout, &stderr), stderr.String())
	want, err := deploy.Generate(dir)
	require.NoError(t, err)
	for _, f := range want {
		got, err := os.ReadFile(filepath.Join(dir, f.Path))
		require.NoError(t, err)
		assert.Equal(t, string(f.Content), string(got), f.Path)
		assert.Contains(t, stdout.String(), "wrote "+dir+"/"+f.Path+"\n")
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{nil, 2, "usage: deploygen"},
		{[]string{"bogus"}, 2, `unknown command "bogus": want manifests, dashboard-rules or doc-rules`},
		{[]string{"-nope", "manifests"}, 2, "flag provided but not defined: -nope"},
		{[]string{"-deploy", "/nonexistent", "manifests"}, 1, "deploygen: generating kubernetes/prometheusrule.yaml: no rule files"},
		{[]string{"-deploy", "/nonexistent", "dashboard-rules"}, 1, "deploygen: open /nonexistent/grafana/vramfit.json"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		assert.Equal(t, tt.code, run(tt.args, &stdout, &stderr), "%v", tt.args)
		assert.Contains(t, stderr.String(), tt.wantErr, "%v", tt.args)
	}
}

func TestDocRules(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-deploy", deployDir, "doc-rules"}, &stdout, &stderr), stderr.String())
	var file struct {
		Groups []deploy.RuleGroup `yaml:"groups"`
	}
	require.NoError(t, yaml.NewDecoder(&stdout).Decode(&file))
	require.Len(t, file.Groups, 1)
	queries, err := deploy.DocQueries("../../..")
	require.NoError(t, err)
	require.Len(t, file.Groups[0].Rules, len(queries), "one rule per example")
	assert.Regexp(t, `^doc:README_md:[0-9]+$`, file.Groups[0].Rules[0].Record)
}
