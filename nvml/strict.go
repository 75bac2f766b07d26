package nvml

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// strictDecoder decodes a YAML tree into the fleet file's structs, failing
// on any key a struct does not have. Its errors name the file, the line and
// the field, and say what would be valid.
type strictDecoder struct{ file string }

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// errorf formats an error at node n for the field at path.
func (d strictDecoder) errorf(n *yaml.Node, path, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", d.file, n.Line, path, fmt.Sprintf(format, args...))
}

// decode fills v (addressable) from n. Structs with a Line field get the
// line of their mapping.
func (d strictDecoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		return d.errorf(n, path, "aliases are not supported; write the value out")
	}
	t := v.Type()
	if t.Kind() == reflect.Struct {
		if f, ok := t.FieldByName("Line"); ok {
			v.FieldByIndex(f.Index).SetInt(int64(n.Line))
		}
	}
	if n.Tag == "!!null" {
		return nil // an empty value keeps the default
	}
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	switch {
	case !custom && t.Kind() == reflect.Struct:
		return d.decodeStruct(n, v, path)
	case !custom && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, path, "must be a list")
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		if _, ok := err.(*yaml.TypeError); ok {
			return d.errorf(n, path, "%q is not %s", n.Value, describe(t))
		}
		return d.errorf(n, path, "%v", err)
	}
	return nil
}

func (d strictDecoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	t := v.Type()
	fields := map[string]int{}
	for i := range t.NumField() {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	valid := strings.Join(slices.Sorted(maps.Keys(fields)), ", ")
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "must be a mapping with the fields %s", valid)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		field := key.Value
		if path != "" {
			field = path + "." + key.Value
		}
		idx, ok := fields[key.Value]
		if !ok {
			return d.errorf(key, field, "unknown field; valid fields are %s", valid)
		}
		if line, dup := seen[key.Value]; dup {
			return d.errorf(key, field, "set twice; it is already set at line %d", line)
		}
		seen[key.Value] = key.Line
		if err := d.decode(value, v.Field(idx), field); err != nil {
			return err
		}
	}
	return nil
}

// describe names what a value of type t must look like.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem())
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
