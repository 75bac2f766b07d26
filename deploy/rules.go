package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// RulesDir holds the Prometheus rule files, relative to the deploy directory.
// Every *.yml directly in it is a rule file; their unit tests live in tests/.
const RulesDir = "prometheus"

// RuleGroup is a group of a Prometheus rule file, with the fields vramfit's
// rules use. It doubles as a PrometheusRule's spec.groups item, whose schema is
// the same.
type RuleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is an alerting rule (Alert set) or a recording rule (Record set).
type Rule struct {
	Alert       string            `yaml:"alert,omitempty"`
	Record      string            `yaml:"record,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Name is the alert's or the recorded series' name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// RuleFiles lists the rule files under deployDir, sorted.
func RuleFiles(deployDir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(deployDir, RulesDir, "*.yml"))
	if err != nil {
		return nil, fmt.Errorf("listing rule files: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files (*.yml) in %s", filepath.Join(deployDir, RulesDir))
	}
	return files, nil
}

// LoadRuleGroups reads the groups of every rule file under deployDir, in file
// order. Unknown fields are errors, so that a typo cannot drop a rule's
// setting unnoticed.
func LoadRuleGroups(deployDir string) ([]RuleGroup, error) {
	files, err := RuleFiles(deployDir)
	if err != nil {
		return nil, err
	}
	var groups []RuleGroup
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var file struct {
			Groups []RuleGroup `yaml:"groups"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		// An empty file decodes to io.EOF; it has no groups either.
		if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(file.Groups) == 0 {
			return nil, fmt.Errorf("%s: no rule groups: a rule file needs a non-empty \"groups\" list", path)
		}
		groups = append(groups, file.Groups...)
	}
	return groups, nil
}

// prometheusRule renders the rule files under deployDir as one PrometheusRule
// object for the Prometheus operator. It copies the groups node by node, so
// that block styles and comments survive and a reviewer can diff it against
// the rule files.
func prometheusRule(deployDir string) ([]byte, error) {
	groups, sources, err := ruleGroupsNode(deployDir)
	if err != nil {
		return nil, err
	}
	doc := mapping(
		"apiVersion", scalar("monitoring.coreos.com/v1"),
		"kind", scalar("PrometheusRule"),
		"metadata", mapping(
			"name", scalar("vramfit"),
			"labels", mapping("app.kubernetes.io/name", scalar("vramfit")),
		),
		"spec", mapping("groups", groups),
	)
	doc.HeadComment = generatedHeader(sources...)
	return encodeYAML(doc)
}

// chartRules renders the rule files under deployDir as the spec of the Helm
// chart's PrometheusRule: the groups alone, copied as prometheusRule does.
func chartRules(deployDir string) ([]byte, error) {
	groups, sources, err := ruleGroupsNode(deployDir)
	if err != nil {
		return nil, err
	}
	doc := mapping("groups", groups)
	doc.HeadComment = generatedHeader(sources...)
	return encodeYAML(doc)
}

// ruleGroupsNode returns the groups of every rule file under deployDir as one
// YAML list, with the files' paths in the repository.
func ruleGroupsNode(deployDir string) (*yaml.Node, []string, error) {
	files, err := RuleFiles(deployDir)
	if err != nil {
		return nil, nil, err
	}
	groups := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	sources := make([]string, 0, len(files))
	for _, path := range files {
		items, err := groupNodes(path)
		if err != nil {
			return nil, nil, err
		}
		groups.Content = append(groups.Content, items...)
		sources = append(sources, filepath.ToSlash(filepath.Join("deploy", RulesDir, filepath.Base(path))))
	}
	return groups, sources, nil
}

// groupNodes returns the items of the "groups" list of one rule file.
func groupNodes(path string) ([]*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		root := doc.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "groups" && root.Content[i+1].Kind == yaml.SequenceNode {
				return root.Content[i+1].Content, nil
			}
		}
	}
	return nil, fmt.Errorf("%s: no \"groups\" list at the top level of the rule file", path)
}

func scalar(value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
}

// mapping builds a mapping node from alternating keys and value nodes.
func mapping(pairs ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(pairs); i += 2 {
		m.Content = append(m.Content, scalar(pairs[i].(string)), pairs[i+1].(*yaml.Node))
	}
	return m
}

func encodeYAML(node *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, fmt.Errorf("encoding YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding YAML: %w", err)
	}
	return buf.Bytes(), nil
}
