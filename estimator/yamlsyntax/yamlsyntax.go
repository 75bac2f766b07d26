// Package yamlsyntax puts a YAML syntax error of yaml.v3 at the line of the
// fault. yaml.v3 names the line where the block around the fault begins
// (line 7 for a key mis-indented on line 53), which can be far from it.
//
// It depends on nothing of vramfit, so that every file vramfit reads as YAML
// shares it: the targets file (estimator/targetsfile) and the fake fleet
// file (nvml), which may not import the estimator; like estimator/bytesize,
// it is a leaf both can import.
package yamlsyntax

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lineInMessage is how yaml.v3 writes a syntax error that has a line.
var lineInMessage = regexp.MustCompile(`^\s*(?:yaml: )?line (\d+): (.*)$`)

// Locate returns the line of the fault behind err, a syntax error of
// yaml.v3 for data, and its problem, followed by a hint when the fault's
// indentation is the likely cause. ok is false for an error that names no
// line (a file that is not UTF-8, a control character), which is left to
// the caller.
//
// The fault is the first line at which the file, cut after that line,
// fails with the same problem. Cut at a line boundary, a block-style file
// is valid YAML up to its fault, so the search bisects between the line
// yaml names and the end: a few dozen parses for a file of a million lines.
// The line found is never before the one yaml names.
func Locate(data []byte, err error) (line int, msg string, ok bool) {
	m := lineInMessage.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, "", false
	}
	reported, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return 0, "", false
	}
	problem := m[2]
	line, hint := fault(data, problem, reported)
	if hint != "" {
		return line, problem + "; " + hint, true
	}
	return line, problem, true
}

// fault finds the line of the fault whose problem yaml reported at line
// reported, and a hint when its indentation is to blame.
func fault(data []byte, problem string, reported int) (line int, hint string) {
	ends := lineEnds(data)
	fails := func(n int) bool { // the first n lines
		var node yaml.Node
		err := yaml.Unmarshal(data[:ends[n-1]], &node)
		return err != nil && strings.HasSuffix(err.Error(), ": "+problem)
	}
	lo, hi := max(reported, 1), len(ends)
	if lo > hi || !fails(hi) {
		return reported, ""
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, indentationHint(data, ends, lo)
}

// lineEnds are the offsets just past each line of data.
func lineEnds(data []byte) []int {
	var ends []int
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			ends = append(ends, len(data))
			break
		}
		off += i + 1
		ends = append(ends, off)
	}
	return ends
}

// indentationHint explains a fault on line n (1-based) whose indentation
// matches none of the blocks open above it, or that is indented by a tab.
func indentationHint(data []byte, ends []int, n int) string {
	text := func(i int) string { // line i, 1-based
		start := 0
		if i > 1 {
			start = ends[i-2]
		}
		return strings.TrimRight(string(data[start:ends[i-1]]), "\r\n")
	}
	fault := text(n)
	body := strings.TrimLeft(fault, " \t")
	if strings.Contains(fault[:len(fault)-len(body)], "\t") {
		return fmt.Sprintf("line %d is indented with a tab; YAML indents with spaces only", n)
	}
	indent := len(fault) - len(body)
	// The blocks open above the fault: walking up, each line indented less
	// than every line after it opens one (a list item's dash and its key
	// both count). The first line of a block may be indented as deep as it
	// likes: a fault just below a line that opens one ("gpus:") has no
	// indentation to blame.
	var levels []int
	least := math.MaxInt
	for i := n - 1; i >= 1 && least > 0; i-- {
		line := text(i)
		content := strings.TrimLeft(line, " ")
		if content == "" || strings.HasPrefix(content, "#") {
			continue
		}
		col := len(line) - len(content)
		if least == math.MaxInt && col < indent && opensBlock(content) {
			return ""
		}
		if col >= least {
			continue
		}
		least = col
		levels = append(levels, col)
		for rest := content; strings.HasPrefix(rest, "- "); {
			trimmed := strings.TrimLeft(rest[2:], " ")
			col += len(rest) - len(trimmed)
			levels = append(levels, col)
			rest = trimmed
		}
	}
	slices.Sort(levels)
	levels = slices.Compact(levels)
	if len(levels) == 0 || slices.Contains(levels, indent) {
		return ""
	}
	words := make([]string, len(levels))
	for i, l := range levels {
		words[i] = strconv.Itoa(l)
	}
	return fmt.Sprintf("line %d is indented by %d spaces, which lines up with none of the blocks above it (indented by %s)",
		n, indent, strings.Join(words, ", "))
}

// opensBlock reports whether a line (without its indentation) ends with a
// key whose value is a block on the lines below ("gpus:", "- processes:").
func opensBlock(content string) bool {
	content = strings.TrimSpace(content)
	if i := strings.Index(content, " #"); i >= 0 {
		content = strings.TrimSpace(content[:i])
	}
	return strings.HasSuffix(content, ":") || content == "-"
}
