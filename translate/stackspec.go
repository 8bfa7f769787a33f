package translate

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadStack reads ferry's spec in the YAML file at path as a stack; see
// [ParseStack]. A [*SyntaxError] names the file, and relative build
// contexts are resolved against the file's directory, as [Load] does.
func LoadStack(path string) (*Stack, error) {
	s, err := loadSpec(path, ParseStack)
	if s != nil {
		resolveContexts(path, s.Services...)
	}
	return s, err
}

// ParseStack decodes ferry's spec from YAML as a stack and validates it.
// The document is either one app, as [Parse] reads it (the stack of one,
// see [StackOf]), or a stack:
//
//	name: shop
//	services:
//	  web:            # a map: the key is the service's name
//	    image: nginx:1.27
//	    depends_on: [{service: db, condition: service_healthy}]
//	  db:
//	    image: postgres:17
//
// services may also be a list of apps, each with its name. Every problem
// is reported at once, as [Parse] does: a [*SyntaxError] (with the rule
// problems as its Invalid) when a key is unknown or a value of the wrong
// type, else a [*ValidationError] from [Stack.Validate]. On any error the
// returned Stack is nil.
func ParseStack(data []byte) (*Stack, error) {
	if !isStackSpec(data) {
		app, err := Parse(data)
		if err != nil {
			return nil, err
		}
		return StackOf(app), nil
	}
	var doc struct {
		Name     string    `yaml:"name"`
		Services yaml.Node `yaml:"services"`
	}
	msgs, complete, err := decodeSpec(data, &doc, "stack spec")
	if err != nil {
		return nil, err
	}
	s := &Stack{Name: doc.Name}
	svcMsgs, ok := decodeServices(&doc.Services, s)
	msgs = append(msgs, svcMsgs...)
	sortByLine(msgs)
	if err := specError(msgs, complete && ok, s.Validate); err != nil {
		return nil, err
	}
	return s, nil
}

// isStackSpec reports whether data is a YAML mapping with a top-level
// "services" key. Anything else is read as one app.
func isStackSpec(data []byte) bool {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil || len(doc.Content) != 1 {
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "services" {
			return true
		}
	}
	return false
}

// decodeServices reads the services of a stack spec, a map by name or a
// list, into s, and returns every decoding problem with its line. ok is
// false when a duplicate key left part of it undecoded.
func decodeServices(n *yaml.Node, s *Stack) (msgs []string, ok bool) {
	ok = true
	one := func(node *yaml.Node, name string, line int) {
		var app App
		if err := node.Decode(&app); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) || strings.Contains(err.Error(), "already defined at line") {
				ok = false
			}
			msgs = append(msgs, decodeError(err).(*SyntaxError).Errors...)
		}
		msgs = append(msgs, unknownKeys(node, reflect.TypeOf(app), 0)...)
		if name != "" {
			if app.Name != "" && app.Name != name {
				msgs = append(msgs, fmt.Sprintf("line %d: service %q has name %q; leave name out or make it the same", line, name, app.Name))
			}
			app.Name = name
		}
		s.Services = append(s.Services, &app)
	}
	switch n.Kind {
	case 0:
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			one(n.Content[i+1], n.Content[i].Value, n.Content[i].Line)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			one(c, "", c.Line)
		}
	default:
		msgs = append(msgs, fmt.Sprintf("line %d: services must be a map of services by name or a list of services", n.Line))
	}
	return msgs, ok
}
