// Package yamlenc writes YAML node trees as ferry prints them, with
// two-space indentation, for the packages that build or adapt YAML.
package yamlenc

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// Encode writes docs as a YAML stream, one document each, with two-space
// indentation.
func Encode(docs ...*yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
