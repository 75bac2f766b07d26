// Package targetsfile reads the targets file: a YAML list of targets and a
// defaults block. It parses strictly (no unknown keys, no aliases, one
// document, bounded size and count), reports every error with its file,
// line and field, finds the true line of a YAML syntax error and suggests
// the key a misspelt one meant, and checks each target in full against its
// model (estimator.ResolveTarget), so that a file that loads estimates
// without reading anything again.
//
// The fields a target has, with their kinds, bounds and setters, are not
// here but in package estimator (estimator.TargetFields): they are the
// schema of an estimator.Target, which this package and the command-line
// flags of cmd/vramfit both fill, and their checks share the bounds and
// number formats of the estimator's own validation.
package targetsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vramfit/vramfit/estimator"
	"github.com/vramfit/vramfit/estimator/model"
	"github.com/vramfit/vramfit/estimator/yamlsyntax"
	"go.yaml.in/yaml/v3"
)

// Limits that keep a hostile targets file cheap to reject.
const (
	// MaxSize bounds the file: a target takes a few hundred
	// bytes, and parsing 2 MiB of hostile YAML takes under a second.
	MaxSize = 2 << 20
	// MaxTargets bounds the targets of one file.
	MaxTargets = 10000
)

// File is the shape of a targets file: the targets, and defaults
// that apply to every field a target leaves unset.
type File struct {
	Targets  []estimator.Target `json:"targets"`
	Defaults estimator.Target   `json:"defaults"`
}

// Load reads and parses a targets file. A relative hf_config path is
// relative to the file's directory.
func Load(path string) ([]estimator.Target, error) {
	data, err := Read(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Read reads a targets file, at most one byte more than
// MaxSize: enough for Parse to refuse an oversized file
// without it being read whole.
func Read(path string) ([]byte, error) {
	f, _, err := model.OpenRegular(path)
	if err != nil {
		return nil, unreadable(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, unreadable(path, err)
	}
	return data, nil
}

// unreadable is the error of a targets file that cannot be read: the file
// and the reason ("targets.yml: cannot read the targets file: no such file
// or directory"), without the name of the system call or the path twice.
func unreadable(path string, err error) error {
	reason := err.Error()
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		reason = pathErr.Err.Error()
	} else if rest, ok := strings.CutPrefix(reason, path+" "); ok {
		reason = "it " + rest // "it is a directory, not a regular file"
	}
	return &estimator.TargetError{Where: path, Msg: "cannot read the targets file: " + reason, Cause: err}
}

// Parse parses a targets file strictly and validates it in full:
// every field, every model (presets are looked up, config.json files read
// relative to filename's directory), every target against its model. Errors
// name the file, line and field ("targets.yml:7: targets[1].batch: must be
// at least 1, got 0"); all of them are reported, one per line.
func Parse(data []byte, filename string) ([]estimator.Target, error) {
	file, err := ParseFile(data, filename)
	if err != nil {
		return nil, err
	}
	return file.Targets, nil
}

// ParseFile is Parse that also returns the defaults block.
func ParseFile(data []byte, filename string) (File, error) {
	p := &targetsParser{file: filename, baseDir: filepath.Dir(filename)}
	file := p.parse(data)
	if len(p.errs) > 0 {
		return File{}, estimator.ErrorList(p.errs)
	}
	if file.Targets == nil {
		file.Targets = []estimator.Target{}
	}
	return file, nil
}

// fieldsByKey are the scalar fields of a target by their key.
var fieldsByKey = func() map[string]estimator.TargetField {
	fields := map[string]estimator.TargetField{}
	for _, f := range estimator.TargetFields() {
		fields[f.Key] = f
	}
	return fields
}()

// targetsParser walks the YAML node tree, so that every error has a line.
type targetsParser struct {
	file, baseDir string
	errs          []error
}

func (p *targetsParser) errorf(line int, path, field, format string, args ...any) {
	p.errs = append(p.errs, &estimator.TargetError{Where: p.at(line, path), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *targetsParser) at(line int, path string) string {
	where := fmt.Sprintf("%s:%d", p.file, line)
	if path != "" {
		where += ": " + path
	}
	return where
}

func (p *targetsParser) parse(data []byte) File {
	var file File
	if len(data) > MaxSize {
		p.fileError(fmt.Sprintf("the file is larger than %d bytes", MaxSize))
		return file
	}
	root, ok := p.document(data)
	if !ok {
		return file
	}
	top := p.mapping(root, "", map[string]bool{"targets": true, "defaults": true})
	var defaults []keyValue
	if node, ok := top["defaults"]; ok {
		defaults = p.fields(node.value, "defaults", false)
		file.Defaults = p.target(defaults, nil, "defaults", node.value.Line)
		defaults = p.parsable(defaults)
	}
	node, ok := top["targets"]
	if !ok {
		p.errorf(root.Line, "", "", "no targets: key; write `targets: []` for a file without targets")
		return file
	}
	if node.value.Kind != yaml.SequenceNode {
		p.errorf(node.value.Line, "targets", "", "must be a list of targets")
		return file
	}
	if len(node.value.Content) > MaxTargets {
		p.errorf(node.value.Line, "targets", "", "lists %d targets; at most %d are allowed", len(node.value.Content), MaxTargets)
		return file
	}
	names := map[string]int{}
	for i, item := range node.value.Content {
		path := fmt.Sprintf("targets[%d]", i)
		own := p.fields(item, path, true)
		t := p.target(own, defaults, path, item.Line)
		if first, dup := names[t.Name]; dup && t.Name != "" {
			p.errorf(lineOf(own, "name", item.Line), path, "name", "duplicate name %q; the first is at line %d", t.Name, first)
		} else {
			names[t.Name] = lineOf(own, "name", item.Line)
		}
		file.Targets = append(file.Targets, t)
	}
	return file
}

// document parses the YAML into a node tree and returns the root mapping.
// Aliases are refused: they are the lever of "billion laughs" files, and
// a targets file has no use for them.
func (p *targetsParser) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fileError(emptyFile)
		} else {
			p.yamlError(err, data)
		}
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			p.yamlError(err, data)
			return nil, false
		}
		p.errorf(line, "", "", "a second YAML document; a targets file holds one")
		return nil, false
	}
	if alias := findAlias(&doc); alias != nil {
		what := "aliases (*" + alias.Value + ")"
		if alias.Kind != yaml.AliasNode {
			what = "merge keys (<<)"
		}
		p.errorf(alias.Line, "", "", "%s are not supported in a targets file", what)
		return nil, false
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		if root.Tag == "!!null" {
			p.fileError(emptyFile)
		} else {
			p.errorf(root.Line, "", "", "want a mapping with the keys targets and defaults")
		}
		return nil, false
	}
	return root, true
}

const emptyFile = "the file is empty; write `targets: []` for a file without targets"

// fileError is a problem with the whole file.
func (p *targetsParser) fileError(msg string) {
	p.errs = append(p.errs, &estimator.TargetError{Where: p.file, Msg: msg})
}

// yamlError reports a YAML syntax error of data as file:line: message, at
// the line of the fault rather than the line yaml names.
func (p *targetsParser) yamlError(err error, data []byte) {
	if line, msg, ok := yamlsyntax.Locate(data, err); ok {
		p.errs = append(p.errs, &estimator.TargetError{Where: fmt.Sprintf("%s:%d", p.file, line), Msg: msg})
		return
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") {
		// A binary file, or text in another encoding: yaml says only
		// which byte it stopped at.
		msg += "; a targets file is YAML text in UTF-8"
	}
	p.fileError(msg)
}

// findAlias returns the first alias or merge key in the tree, or nil.
func findAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode || (n.Kind == yaml.ScalarNode && n.Tag == "!!merge") {
		return n
	}
	for _, c := range n.Content {
		if a := findAlias(c); a != nil {
			return a
		}
	}
	return nil
}

// keyValue is one entry of a YAML mapping.
type keyValue struct {
	key   string
	line  int
	value *yaml.Node
}

// mapping returns a mapping's entries by key, reporting keys that are not
// valid and keys given twice.
func (p *targetsParser) mapping(n *yaml.Node, path string, valid map[string]bool) map[string]keyValue {
	out := map[string]keyValue{}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, path, "", "must be a mapping of keys to values")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kv := keyValue{key: k.Value, line: k.Line, value: v}
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k.Line, path, "", "keys must be plain names")
		case !valid[k.Value]:
			p.errorf(k.Line, path, "", "%s", unknownField(k.Value, sortedKeys(valid)))
		case out[k.Value].value != nil:
			p.errorf(k.Line, path, k.Value, "given twice; the first is at line %d", out[k.Value].line)
		default:
			out[k.Value] = kv
		}
	}
	return out
}

// fields returns a target's (or the defaults') entries in file order.
func (p *targetsParser) fields(n *yaml.Node, path string, named bool) []keyValue {
	valid := map[string]bool{"model": true, "lora": true}
	if named {
		valid["name"] = true
	}
	for key := range fieldsByKey {
		valid[key] = true
	}
	byKey := p.mapping(n, path, valid)
	out := make([]keyValue, 0, len(byKey))
	for i := 0; i+1 < len(n.Content); i += 2 {
		if kv, ok := byKey[n.Content[i].Value]; ok && kv.value == n.Content[i+1] {
			out = append(out, kv)
		}
	}
	return out
}

// parsable returns the defaults entries that parse on their own. One that
// does not has been reported at the defaults block; applied to every target
// it would be reported again under each, and would stop their own checks.
func (p *targetsParser) parsable(entries []keyValue) []keyValue {
	out := make([]keyValue, 0, len(entries))
	for _, kv := range entries {
		scratch := targetsParser{file: p.file, baseDir: p.baseDir}
		var t estimator.Target
		scratch.set(&t, kv, "defaults")
		if len(scratch.errs) == 0 {
			out = append(out, kv)
		}
	}
	return out
}

// target builds one target from the defaults and its own entries (which
// win), validates it, resolves its model and checks it against the model.
func (p *targetsParser) target(own, defaults []keyValue, path string, line int) estimator.Target {
	var t estimator.Target
	lines := map[string]int{}
	before := len(p.errs)
	workload := entryValue(own, "workload", entryValue(defaults, "workload", string(estimator.Inference)))
	for _, kv := range defaults {
		if appliesTo(kv, estimator.Workload(workload)) && lineOf(own, kv.key, 0) == 0 {
			lines[kv.key] = kv.line
			p.set(&t, kv, path)
		}
	}
	for _, kv := range own {
		lines[kv.key] = kv.line
		p.set(&t, kv, path)
	}
	if len(p.errs) > before {
		return t // the fields did not parse; checks below would repeat that
	}
	where := func(field string) string {
		if l, ok := lines[strings.SplitN(field, ".", 2)[0]]; ok {
			return p.at(l, path)
		}
		return p.at(line, path)
	}
	report := func(errs []*estimator.TargetError) {
		for _, te := range errs {
			te.Where = where(te.Field)
			p.errs = append(p.errs, te)
		}
	}
	if path == "defaults" {
		report(estimator.CheckDefaults(t))
		return t
	}
	// A relative hf_config is relative to the file's directory; the target
	// keeps the path as written (it names the model in labels), and the
	// model resolved here is the one Estimate uses.
	t, errs := estimator.ResolveTarget(t, p.baseDir)
	report(errs)
	return t
}

// set parses one entry into t.
func (p *targetsParser) set(t *estimator.Target, kv keyValue, path string) {
	v := kv.value
	switch kv.key {
	case "name":
		if s, ok := p.scalar(kv, path, estimator.KindString); ok {
			t.Name = s
		}
	case "model":
		p.model(t, kv, path)
	case "lora":
		p.lora(t, kv, path)
	default:
		f := fieldsByKey[kv.key]
		s, ok := p.scalar(kv, path, f.Kind())
		if !ok {
			return
		}
		if err := f.Set(t, s); err != nil {
			p.errorf(v.Line, path, kv.key, "%v", err)
		}
	}
}

// scalar returns an entry's text if its YAML type suits the field's kind.
func (p *targetsParser) scalar(kv keyValue, path string, kind estimator.FieldKind) (string, bool) {
	v := kv.value
	ok := v.Kind == yaml.ScalarNode
	if ok {
		switch kind {
		case estimator.KindString:
			ok = v.Tag == "!!str"
		case estimator.KindInt:
			// Digits beyond 64 bits resolve as a float; they are an
			// integer out of range, which the field's parser says.
			ok = v.Tag == "!!int" || v.Tag == "!!float" && wholeNumber.MatchString(v.Value)
		case estimator.KindFloat:
			ok = v.Tag == "!!int" || v.Tag == "!!float"
		case estimator.KindBool:
			ok = v.Tag == "!!bool"
		case estimator.KindSize:
			ok = v.Tag == "!!str" || v.Tag == "!!int"
		}
	}
	if !ok {
		p.errorf(v.Line, path, kv.key, "must be %s, got %s", kind, describe(v))
		return "", false
	}
	return v.Value, true
}

// wholeNumber is an integer literal, whatever its size.
var wholeNumber = regexp.MustCompile(`^[-+]?[0-9]+$`)

// describe names a node's YAML type for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), trimForError(n.Value))
}

// model decodes the `model:` block, strictly: keys are checked against the
// fields of ModelSource (and Architecture) before yaml fills them in.
func (p *targetsParser) model(t *estimator.Target, kv keyValue, path string) {
	before := len(p.errs)
	p.knownKeys(kv.value, reflect.TypeOf(model.ModelSource{}), path+".model")
	if len(p.errs) > before {
		return
	}
	var src model.ModelSource
	if err := kv.value.Decode(&src); err != nil {
		var typeErr *yaml.TypeError
		messages := []string{err.Error()}
		if errors.As(err, &typeErr) {
			messages = typeErr.Errors
		}
		for _, msg := range messages {
			line := kv.value.Line
			if m := lineInMessage.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			}
			p.errs = append(p.errs, &estimator.TargetError{Where: p.at(line, path), Field: "model", Msg: msg, Cause: err})
		}
		return
	}
	t.Model = src
}

// lineInMessage finds the line that yaml (and the model decoders) put at the
// front of a message.
var lineInMessage = regexp.MustCompile(`^\s*(?:yaml: )?line (\d+): (.*)$`)

// knownKeys reports the keys of mapping n that struct type typ has no yaml
// field for, recursing into nested structs.
func (p *targetsParser) knownKeys(n *yaml.Node, typ reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, path, "", "must be a mapping, got %s", describe(n))
		return
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < typ.NumField(); i++ {
		name := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
		if name != "" && name != "-" {
			fields[name] = typ.Field(i).Type
		}
	}
	valid := make(map[string]bool, len(fields))
	for name := range fields {
		valid[name] = true
	}
	entries := p.mapping(n, path, valid)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kv, ok := entries[n.Content[i].Value]
		if !ok || kv.value != n.Content[i+1] {
			continue
		}
		ft := fields[kv.key]
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			p.knownKeys(kv.value, ft, path+"."+kv.key)
		}
	}
}

// lora decodes the `lora:` block: rank, modules (a list) and dtype.
func (p *targetsParser) lora(t *estimator.Target, kv keyValue, path string) {
	entries := p.mapping(kv.value, path+".lora", map[string]bool{"rank": true, "modules": true, "dtype": true})
	parsed := estimator.Target{LoRA: &estimator.LoRA{}}
	for _, key := range []string{"rank", "dtype"} {
		e, ok := entries[key]
		if !ok {
			continue
		}
		kind, set := estimator.KindInt, estimator.SetLoRARank
		if key == "dtype" {
			kind, set = estimator.KindString, estimator.SetLoRADType
		}
		if s, ok := p.scalar(e, path, kind); ok {
			if err := set(&parsed, s); err != nil {
				p.errorf(e.value.Line, path, "lora."+key, "%v", err)
			}
		}
	}
	if e, ok := entries["modules"]; ok {
		if e.value.Kind != yaml.SequenceNode {
			p.errorf(e.line, path, "lora.modules", "must be a list of module names such as [q_proj, v_proj], got %s", describe(e.value))
		} else {
			for _, item := range e.value.Content {
				if s, ok := p.scalar(keyValue{key: "lora.modules", line: item.Line, value: item}, path, estimator.KindString); ok {
					parsed.LoRA.Modules = append(parsed.LoRA.Modules, s)
				}
			}
		}
	}
	t.LoRA = parsed.LoRA
}

// entryValue is the scalar text of a key among entries, or def.
func entryValue(entries []keyValue, key, def string) string {
	for _, kv := range entries {
		if kv.key == key && kv.value.Kind == yaml.ScalarNode {
			return kv.value.Value
		}
	}
	return def
}

// appliesTo reports whether a default matters to a workload.
func appliesTo(kv keyValue, w estimator.Workload) bool {
	return estimator.FieldApplies(w, kv.key, kv.value.Value, kv.value.Kind == yaml.ScalarNode)
}

// lineOf is the line of a key among entries, or def.
func lineOf(entries []keyValue, key string, def int) int {
	for _, kv := range entries {
		if kv.key == key {
			return kv.line
		}
	}
	return def
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// trimForError shortens a value quoted in an error to its first 40 bytes.
func trimForError(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
