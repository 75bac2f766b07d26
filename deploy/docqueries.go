package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DocQueries returns every ```promql block of the README and of docs/*.md
// under root, so that `promtool check rules` parses each one: an example a
// reader copies must be valid PromQL. Source names the file and the line of
// the block's first expression line.
func DocQueries(root string) ([]Query, error) {
	paths, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	paths = append([]string{filepath.Join(root, "README.md")}, paths...)
	var queries []Query
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return nil, err
		}
		found, err := promqlBlocks(rel, data)
		if err != nil {
			return nil, err
		}
		queries = append(queries, found...)
	}
	return queries, nil
}

// promqlBlocks splits data's ```promql fences into queries. A block holds one
// expression; comment lines (#) are dropped, as PromQL allows them only where
// a rule file would keep them.
func promqlBlocks(name string, data []byte) ([]Query, error) {
	var (
		queries []Query
		expr    []string
		start   int
		inBlock bool
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		switch {
		case !inBlock && trimmed == "```promql":
			inBlock, expr, start = true, nil, line+1
		case inBlock && trimmed == "```":
			inBlock = false
			q := strings.TrimSpace(strings.Join(expr, "\n"))
			if q == "" {
				return nil, fmt.Errorf("%s:%d: empty promql block", name, start)
			}
			queries = append(queries, Query{Source: fmt.Sprintf("%s:%d", name, start), Expr: q})
		case inBlock && !strings.HasPrefix(trimmed, "#"):
			expr = append(expr, text)
		}
	}
	if inBlock {
		return nil, fmt.Errorf("%s:%d: promql block never closed", name, start)
	}
	return queries, sc.Err()
}
