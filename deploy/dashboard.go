package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// DashboardFile is the Grafana dashboard, relative to the deploy directory.
const DashboardFile = "grafana/vramfit.json"

// Query is one PromQL expression of the dashboard: a panel's query or the
// selector of a template variable.
type Query struct {
	// Source says where the expression is: `panel "Title" (id 3) query A` or
	// `variable "instance"`.
	Source string
	Expr   string
}

// Dashboard is the part of a Grafana dashboard's JSON that the checks read.
type Dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []Panel `json:"panels"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel; rows hold their panels in Panels when collapsed.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	GridPos    struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
	Repeat  string   `json:"repeat"`
	Targets []Target `json:"targets"`
	Panels  []Panel  `json:"panels"`
}

// Target is a panel's query.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *Datasource `json:"datasource"`
}

// Datasource names a data source by type and uid.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Variable is a template variable. For a query variable, Definition holds the
// label_values(...) call.
type Variable struct {
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	Query      any         `json:"query"`
	Definition string      `json:"definition"`
	Datasource *Datasource `json:"datasource"`
	Multi      bool        `json:"multi"`
	IncludeAll bool        `json:"includeAll"`
	AllValue   string      `json:"allValue"`
}

// LoadDashboard reads the dashboard under deployDir.
func LoadDashboard(deployDir string) (*Dashboard, error) {
	path := filepath.Join(deployDir, DashboardFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// AllPanels returns every panel, those inside collapsed rows included.
func (d *Dashboard) AllPanels() []Panel {
	var all []Panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	return all
}

// labelValues matches label_values(selector, label), Grafana's variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// Queries returns every PromQL expression of the dashboard, still holding
// template variables ($job, $instance, ...): each panel query, then the
// series selector of each label_values variable.
func (d *Dashboard) Queries() ([]Query, error) {
	var queries []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			queries = append(queries, Query{
				Source: fmt.Sprintf("panel %q (id %d) query %s", p.Title, p.ID, t.RefID),
				Expr:   t.Expr,
			})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			return nil, fmt.Errorf("variable %q: definition %q is not label_values(selector, label)", v.Name, v.Definition)
		}
		queries = append(queries, Query{Source: fmt.Sprintf("variable %q", v.Name), Expr: m[1]})
	}
	return queries, nil
}

// SelectAll gives each variable the value Grafana sends when "All" is chosen
// (its allValue), then applies set on top: the values that show every panel
// with all hosts and targets. Variables without an "All" option (job) must be
// in set for their queries to expand.
func (d *Dashboard) SelectAll(set map[string]string) map[string]string {
	values := make(map[string]string)
	for _, v := range d.Templating.List {
		if v.IncludeAll && v.AllValue != "" {
			values[v.Name] = v.AllValue
		}
	}
	for name, value := range set {
		values[name] = value
	}
	return values
}

// ExpandVariables replaces $name and ${name} in expr by values[name], as
// Grafana does before it sends a query. Grafana's own variables ($__interval,
// $__range ...) and names missing from values are left alone.
func ExpandVariables(expr string, values map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(expr); {
		if expr[i] != '$' {
			b.WriteByte(expr[i])
			i++
			continue
		}
		name, width := variableAt(expr[i+1:])
		value, ok := values[name]
		if name == "" || !ok {
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteString(value)
		i += 1 + width
	}
	return b.String()
}

// variableAt parses a variable name at the start of s, in the form `name` or
// `{name}`, and returns it with the number of bytes it spans.
func variableAt(s string) (name string, width int) {
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0
		}
		return s[1:end], end + 1
	}
	n := 0
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	return s[:n], n
}
