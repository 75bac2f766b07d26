package targetsfile

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vramfit/vramfit/estimator/model"
)

// syntaxFault finds the line of a YAML syntax error and, when its
// indentation is the likely cause, a hint. yaml reports the line where the
// block around the fault begins (line 7 for a key mis-indented on line 53),
// so the fault is found as the first line at which the file, cut after that
// line, fails with the same problem. Cut at a line boundary, a block-style
// file is valid YAML up to its fault, so the search can bisect: a dozen or
// so parses for the largest file allowed.
func syntaxFault(data []byte, problem string, reported int) (line int, hint string) {
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
	// both count). The first line of a block may be indented as deep as
	// it likes: a fault just below a line that opens one ("model:") has
	// no indentation to blame.
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
		words[i] = fmt.Sprint(l)
	}
	return fmt.Sprintf("line %d is indented by %d spaces, which lines up with none of the blocks above it (indented by %s)",
		n, indent, strings.Join(words, ", "))
}

// opensBlock reports whether a line (without its indentation) ends with a
// key whose value is a block on the lines below ("model:", "- lora:").
func opensBlock(content string) bool {
	content = strings.TrimSpace(content)
	if i := strings.Index(content, " #"); i >= 0 {
		content = strings.TrimSpace(content[:i])
	}
	return strings.HasSuffix(content, ":") || content == "-"
}

// unknownField says that key is not one of valid, suggesting the keys it
// most likely meant, or listing them all when none is close.
func unknownField(key string, valid []string) string {
	if close := model.CloseNames(key, valid); len(close) > 0 {
		return fmt.Sprintf("unknown field %q; did you mean %s?", trimForError(key), strings.Join(close, " or "))
	}
	return fmt.Sprintf("unknown field %q; valid: %s", trimForError(key), strings.Join(valid, ", "))
}
