package translate

import (
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// The translators build YAML as yaml.Node trees so that key order is
// chosen here, not by map iteration or struct layout.

// mapNode is a YAML mapping under construction; keys keep insertion order.
type mapNode struct{ n *yaml.Node }

func newMap() *mapNode { return &mapNode{&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}} }

// set adds key: v; a nil v is skipped, so optional fields read naturally.
func (m *mapNode) set(key string, v *yaml.Node) *mapNode {
	if v != nil {
		m.n.Content = append(m.n.Content, strNode(key), v)
	}
	return m
}

func (m *mapNode) str(key, v string) *mapNode     { return m.set(key, strNode(v)) }
func (m *mapNode) int(key string, v int) *mapNode { return m.set(key, intNode(v)) }
func (m *mapNode) node() *yaml.Node               { return m.n }

// optStr adds key: v unless v is empty.
func (m *mapNode) optStr(key, v string) *mapNode {
	if v == "" {
		return m
	}
	return m.str(key, v)
}

// yaml11Special matches plain scalars that a YAML 1.1 parser (PyYAML,
// the Kubernetes YAML reader) would not read as a string: booleans such as
// "yes" and "on", nulls, and anything that could be a number, including
// sexagesimal "80:8080".
var yaml11Special = regexp.MustCompile(`^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~|<<|=|` +
	`[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)|` + // infinities and NaN
	`[-+]?[0-9._][0-9a-fA-FxXoObBeE_:.+-]*|` + // anything number-like, sexagesimal "80:8080" too
	`[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?)$`) // timestamps

func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if yaml11Special.MatchString(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func intNode(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func seqNode(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

// strSeq returns a sequence of strings, or nil for a nil slice.
func strSeq(ss []string) *yaml.Node {
	if ss == nil {
		return nil
	}
	n := seqNode()
	for _, s := range ss {
		n.Content = append(n.Content, strNode(s))
	}
	return n
}

// strMap returns a mapping with sorted keys, or nil when m is empty.
func strMap(m map[string]string) *yaml.Node {
	if len(m) == 0 {
		return nil
	}
	out := newMap()
	for _, k := range sortedKeys(m) {
		out.str(k, m[k])
	}
	return out.node()
}

// mapStrings applies f to every scalar value (not key) under n.
func mapStrings(n *yaml.Node, f func(string) string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			n.Value = f(n.Value)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			mapStrings(n.Content[i], f)
		}
	default:
		for _, c := range n.Content {
			mapStrings(c, f)
		}
	}
}
