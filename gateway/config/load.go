package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hookgate/hookgate/gateway"
)

// Load reads, expands, parses and validates the config file at path,
// taking ${VAR} values from the process environment. A file with problems
// yields Errors listing all of them.
func Load(path string) (*gateway.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse builds a Config from data, the content of the file at path
// (used in error messages and as Config.Path): ${VAR} and ${VAR:-default}
// are expanded with env (nil means os.LookupEnv), defaults are applied, the
// YAML is decoded strictly, and the result validated. On any problem it
// returns nil and Errors holding every problem found, each naming the
// file, line and key; no message carries a secret's value.
func Parse(path string, data []byte, env func(string) (string, bool)) (*gateway.Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	exp := expandEnv(path, data, env)
	d := &decoder{file: path, lines: map[string]int{}, vals: map[string][2]int{}}
	cfg := Default()
	cfg.Path = path

	errs := Errors(exp.errs)
	root, err := parseDocument(exp.data)
	if err != nil {
		// Without a tree there is nothing to decode or validate.
		errs = append(errs, syntaxError(path, exp.data, err))
	} else {
		if root != nil {
			d.decode(root, reflect.ValueOf(cfg).Elem(), "")
		}
		v := &validator{file: path, lines: d.lines, vals: d.vals, hint: exp.emptyHint}
		v.config(cfg)
		errs = append(errs, d.errs...)
		errs = append(errs, unexplained(v.errs, exp.errs, d.errs)...)
	}
	if len(errs) > 0 {
		errs.sortByPlace()
		return nil, errs
	}
	return cfg, nil
}

// unexplained drops the validation errors that an earlier error already
// explains: those on a line whose ${VAR} could not be expanded, and those
// under a key that did not decode (its value is a default or partial; a
// top level that is not a mapping explains everything). The rest are
// reported too, so that one run shows every problem.
func unexplained(found, envErrs, decodeErrs []*Error) []*Error {
	var out []*Error
	for _, e := range found {
		explained := false
		for _, x := range envErrs {
			explained = explained || x.Line == e.Line
		}
		for _, x := range decodeErrs {
			explained = explained || x.Key == "" || e.Key == x.Key ||
				strings.HasPrefix(e.Key, x.Key+".") || strings.HasPrefix(e.Key, x.Key+"[")
		}
		if !explained {
			out = append(out, e)
		}
	}
	return out
}

// parseDocument parses data into a node tree and returns the top-level
// node, or nil for an empty file. More than one YAML document is an error:
// the others would be silently ignored.
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, &extraDocumentError{line: more.Line}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}
