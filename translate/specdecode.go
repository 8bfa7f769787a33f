package translate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxSpecDepth bounds how deep unknownKeys walks, so that a spec of
// nested aliases cannot make it run long.
const maxSpecDepth = 32

// decodeSpec reads one YAML document of ferry's spec into v (a pointer to
// a struct) leniently, and returns every problem the strict decoder would
// stop at: unknown keys, duplicate keys and values of the wrong type,
// each "line N: message". A document that is not YAML at all, empty or
// followed by another document gives a *SyntaxError; what names the
// document in messages ("app spec"). complete is false when decoding
// stopped early (a duplicate key), so v holds only part of the document.
func decodeSpec(data []byte, v any, what string) (msgs []string, complete bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, false, &SyntaxError{Errors: []string{"empty " + what}}
		}
		return nil, false, decodeError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, false, decodeError(err)
		}
		return nil, false, &SyntaxError{Errors: []string{fmt.Sprintf("line %d: more than one document; an %s is one YAML document", extra.Line, what)}}
	}
	complete = true
	if err := doc.Decode(v); err != nil {
		// A duplicate key leaves its whole mapping undecoded.
		var te *yaml.TypeError
		complete = errors.As(err, &te) && !strings.Contains(err.Error(), "already defined at line")
		msgs = decodeError(err).(*SyntaxError).Errors
	}
	msgs = append(msgs, unknownKeys(&doc, reflect.TypeOf(v).Elem(), 0)...)
	sortByLine(msgs)
	return msgs, complete, nil
}

// unknownKeys returns "line N: unknown key "k" in type" for every key of
// n's mappings that t's yaml tags do not have.
func unknownKeys(n *yaml.Node, t reflect.Type, depth int) []string {
	if depth > maxSpecDepth {
		return nil
	}
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return nil
			}
			n = n.Alias
		} else if len(n.Content) == 1 {
			n = n.Content[0]
		} else {
			return nil
		}
		depth++
		if depth > maxSpecDepth {
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch {
	case t == reflect.TypeOf(time.Duration(0)), t == reflect.TypeOf(yaml.Node{}):
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, unknownKeys(c, t.Elem(), depth+1)...)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			out = append(out, unknownKeys(n.Content[i], t.Elem(), depth+1)...)
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				out = append(out, fmt.Sprintf("line %d: unknown key %q in %s", k.Line, k.Value, strings.ToLower(t.Name())))
				continue
			}
			out = append(out, unknownKeys(n.Content[i+1], ft, depth+1)...)
		}
	}
	return out
}

// sortByLine orders "line N: ..." messages by N, keeping the order of
// messages on the same line and putting messages without a line last.
func sortByLine(msgs []string) {
	line := func(m string) int {
		var n int
		if _, err := fmt.Sscanf(m, "line %d:", &n); err != nil {
			return 1 << 30
		}
		return n
	}
	for i := 1; i < len(msgs); i++ {
		for j := i; j > 0 && line(msgs[j]) < line(msgs[j-1]); j-- {
			msgs[j], msgs[j-1] = msgs[j-1], msgs[j]
		}
	}
}
