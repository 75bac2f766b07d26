package nvml

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeFleetFile decodes a fleet file strictly with yaml.v3's KnownFields:
// an unknown field, a key set twice or a value of the wrong type is an
// error. A fleet file stops at its first error (unlike a targets file, it
// needs no list of every error at once), so yaml.v3 does the checking and
// this file only refuses aliases and merge keys, which yaml.v3 expands, and
// turns yaml.v3's first message into one that names the file, the line and
// the field, and says what would be valid. doc is data's first document.
func decodeFleetFile(filename string, data []byte, doc *yaml.Node) (fleetFile, error) {
	idx := fleetIndex{file: filename, lines: map[string]int{}}
	if err := idx.walk(doc, reflect.TypeFor[fleetFile](), ""); err != nil {
		return fleetFile{}, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var file fleetFile
	if err := dec.Decode(&file); err != nil {
		return fleetFile{}, idx.explain(err)
	}
	file.setLines(idx.lines)
	return file, nil
}

// fleetIndex holds every node of a fleet file with its path (gpus[0].count)
// and the Go type it decodes into, to name the field of an error at a line.
type fleetIndex struct {
	file    string
	entries []fleetEntry
	lines   map[string]int // the line of each value, by path
}

type fleetEntry struct {
	node *yaml.Node
	path string
	key  bool
	// typ is what a value decodes into (nil for a key or an unknown
	// field); owner is the struct a key belongs to.
	typ, owner reflect.Type
}

func (x *fleetIndex) errorf(line int, path, format string, args ...any) error {
	if path == "" {
		return fmt.Errorf("%s:%d: %s", x.file, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s:%d: %s: %s", x.file, line, path, fmt.Sprintf(format, args...))
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// walk indexes n, which decodes into t (nil where no field takes it).
func (x *fleetIndex) walk(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		return x.errorf(n.Line, path, "aliases are not supported; write the value out")
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	x.entries = append(x.entries, fleetEntry{node: n, path: path, typ: t})
	x.lines[path] = n.Line
	custom := t != nil && reflect.PointerTo(t).Implements(unmarshalerType)
	switch n.Kind {
	case yaml.MappingNode:
		fields := map[string]reflect.Type{}
		if t != nil && !custom && t.Kind() == reflect.Struct {
			fields = fieldsOf(t)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			field := key.Value
			if path != "" {
				field = path + "." + key.Value
			}
			if key.Tag == "!!merge" {
				return x.errorf(key.Line, field, "merge keys are not supported; write the fields out")
			}
			x.entries = append(x.entries, fleetEntry{node: key, path: field, key: true, owner: t})
			if err := x.walk(value, fields[key.Value], field); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		var elem reflect.Type
		if t != nil && !custom && t.Kind() == reflect.Slice {
			elem = t.Elem()
		}
		for i, item := range n.Content {
			itemPath := fmt.Sprintf("%s[%d]", path, i)
			if elem != nil && elem.Kind() == reflect.Struct && item.ShortTag() == "!!null" {
				// yaml.v3 would drop the item and shift the ones after it.
				return x.errorf(item.Line, itemPath, "an empty list item; fill it in or remove it")
			}
			if err := x.walk(item, elem, itemPath); err != nil {
				return err
			}
		}
	}
	return nil
}

// The messages of yaml.v3 (decode.go) that explain rewrites, and the one
// that the fleet file's own types (byteSize, duration) return.
var (
	unknownFieldMessage = regexp.MustCompile(`^line (\d+): field (.*) not found in type \S+$`)
	duplicateMessage    = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
	wrongTypeMessage    = regexp.MustCompile("(?s)^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	valueMessage        = regexp.MustCompile(`^line (\d+): column (\d+): (.*)$`)
)

// valueError is the error of a scalar the fleet file's own types refuse,
// as yaml.v3 wants it for a decode to go on and report the first error of
// the file.
func valueError(n *yaml.Node, err error) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %v", n.Line, n.Column, err)}}
}

// explain rewrites the first error of a decode. A message it does not know
// is kept as yaml.v3 wrote it, after the file's name.
func (x *fleetIndex) explain(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return fmt.Errorf("%s: %w", x.file, err)
	}
	msg := te.Errors[0]
	if m := valueMessage.FindStringSubmatch(msg); m != nil {
		if e, ok := x.find(m[1], func(e fleetEntry) bool { return e.typ != nil && strconv.Itoa(e.node.Column) == m[2] }); ok {
			return x.errorf(e.node.Line, e.path, "%s", m[3])
		}
	}
	if m := unknownFieldMessage.FindStringSubmatch(msg); m != nil {
		if e, ok := x.find(m[1], func(e fleetEntry) bool { return e.key && e.owner != nil && e.node.Value == m[2] }); ok {
			return x.errorf(e.node.Line, e.path, "unknown field; valid fields are %s", validFields(e.owner))
		}
	}
	if m := duplicateMessage.FindStringSubmatch(msg); m != nil {
		key, _ := strconv.Unquote(m[2])
		if e, ok := x.find(m[1], func(e fleetEntry) bool { return e.key && e.node.Value == key }); ok {
			return x.errorf(e.node.Line, e.path, "set twice; it is already set at line %s", m[3])
		}
	}
	if m := wrongTypeMessage.FindStringSubmatch(msg); m != nil {
		matches := func(e fleetEntry) bool {
			return e.typ != nil && e.typ.String() == m[4] && e.node.ShortTag() == m[2] &&
				(e.node.Value == m[3] || strings.HasSuffix(m[3], "...") && strings.HasPrefix(e.node.Value, strings.TrimSuffix(m[3], "...")))
		}
		if e, ok := x.find(m[1], matches); ok {
			return x.errorf(e.node.Line, e.path, "%s", wrongType(e))
		}
	}
	return fmt.Errorf("%s: %s", x.file, msg)
}

// find returns the first entry at line that ok accepts, in the file's order.
func (x *fleetIndex) find(line string, ok func(fleetEntry) bool) (fleetEntry, bool) {
	for _, e := range x.entries {
		if strconv.Itoa(e.node.Line) == line && ok(e) {
			return e, true
		}
	}
	return fleetEntry{}, false
}

// wrongType says what the value of e must be instead.
func wrongType(e fleetEntry) string {
	switch {
	case e.typ.Kind() == reflect.Struct:
		return "must be a mapping with the fields " + validFields(e.typ)
	case e.typ.Kind() == reflect.Slice && e.typ.Elem().Kind() == reflect.Struct:
		return "must be a list"
	case e.node.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%q is not %s", e.node.Value, describe(e.typ))
	}
	return "must be " + describe(e.typ)
}

// fieldsOf maps the keys of struct t to the types of their fields.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			fields[tag] = t.Field(i).Type
		}
	}
	return fields
}

func validFields(t reflect.Type) string {
	return strings.Join(slices.Sorted(maps.Keys(fieldsOf(t))), ", ")
}

// describe names what a value of type t must look like.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(describe(t.Elem()), "a ") + "s"
	}
	return "valid here"
}
