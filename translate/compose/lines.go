package compose

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// The loader keeps no line numbers, so warnings find their keys again in
// the source files: the files given, then the files they include, and
// for a service that extends another, the other's definition.

// maxSources bounds how many files include and extends may pull in.
const maxSources = 64

type source struct {
	path string
	root *yaml.Node // the document's mapping
}

type sources struct {
	files []*source // the given files in order, then included files
}

// newSources reads the given files and the files they include or extend.
// project is unused today but keeps the door open for the loader's own
// record of includes.
func newSources(_ *types.Project, files []string) (*sources, error) {
	s := &sources{}
	seen := map[string]bool{}
	var add func(path string, depth int)
	add = func(path string, depth int) {
		abs, err := filepath.Abs(path)
		if err != nil || seen[abs] || len(s.files) >= maxSources || depth > 8 {
			return
		}
		seen[abs] = true
		data, err := os.ReadFile(path)
		if err != nil {
			return
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return
		}
		src := &source{path: path, root: doc.Content[0]}
		s.files = append(s.files, src)
		dir := filepath.Dir(path)
		for _, inc := range includePaths(src.root) {
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(dir, inc)
			}
			add(inc, depth+1)
		}
		for _, ext := range extendsFiles(src.root) {
			if !filepath.IsAbs(ext) {
				ext = filepath.Join(dir, ext)
			}
			add(ext, depth+1)
		}
	}
	for _, f := range files {
		add(f, 0)
	}
	return s, nil
}

// includePaths lists the files of a top-level include section.
func includePaths(root *yaml.Node) []string {
	var out []string
	inc := get(root, "include")
	if inc == nil {
		return nil
	}
	for _, e := range inc.Content {
		switch e.Kind {
		case yaml.ScalarNode:
			out = append(out, e.Value)
		case yaml.MappingNode:
			p := get(e, "path")
			if p == nil {
				continue
			}
			if p.Kind == yaml.ScalarNode {
				out = append(out, p.Value)
			}
			for _, c := range p.Content {
				out = append(out, c.Value)
			}
		}
	}
	return out
}

// extendsFiles lists the files that services extend.
func extendsFiles(root *yaml.Node) []string {
	var out []string
	svcs := get(root, "services")
	if svcs == nil || svcs.Kind != yaml.MappingNode {
		return nil
	}
	for i := 1; i < len(svcs.Content); i += 2 {
		if f := get(get(deref(svcs.Content[i]), "extends"), "file"); f != nil && f.Kind == yaml.ScalarNode {
			out = append(out, f.Value)
		}
	}
	return out
}

// at locates a service's key (path within the service, as YAML keys and
// sequence indexes) or, for an empty service, a top-level key: the last
// file that sets it, following extends. When the key is not written
// anywhere (a default the loader filled in), it falls back to the
// service's own line.
func (s *sources) at(service string, path ...string) (string, int) {
	if s == nil {
		return "", 0
	}
	if service == "" {
		for i := len(s.files) - 1; i >= 0; i-- {
			if line := find(s.files[i].root, path); line > 0 {
				return s.files[i].path, line
			}
		}
		return "", 0
	}
	fallbackFile, fallbackLine := "", 0
	for i := len(s.files) - 1; i >= 0; i-- {
		f := s.files[i]
		name := service
		for hops := 0; hops < 8; hops++ {
			svc := get(get(f.root, "services"), name)
			if svc == nil {
				break
			}
			if fallbackLine == 0 {
				fallbackFile, fallbackLine = f.path, keyLine(get(f.root, "services"), name)
			}
			if line := find(svc, path); line > 0 {
				return f.path, line
			}
			ext := deref(get(svc, "extends"))
			if ext == nil {
				break
			}
			if ext.Kind == yaml.ScalarNode {
				name = ext.Value
				continue
			}
			if get(ext, "file") != nil || get(ext, "service") == nil {
				break // another file: it is in the list too
			}
			name = get(ext, "service").Value
		}
	}
	return fallbackFile, fallbackLine
}

// find returns the line of the key (or sequence item) at path under n,
// or 0. Merge keys ("<<") and aliases are followed.
func find(n *yaml.Node, path []string) int {
	n = deref(n)
	if n == nil {
		return 0
	}
	if len(path) == 0 {
		return n.Line
	}
	switch n.Kind {
	case yaml.MappingNode:
		if line := keyLine(n, path[0]); line > 0 {
			if len(path) == 1 {
				return line
			}
			if deeper := find(get(n, path[0]), path[1:]); deeper > 0 {
				return deeper
			}
			return line
		}
		if merge := get(n, "<<"); merge != nil {
			merge = deref(merge)
			if merge.Kind == yaml.SequenceNode {
				for _, m := range merge.Content {
					if line := find(m, path); line > 0 {
						return line
					}
				}
			}
			return find(merge, path)
		}
	case yaml.SequenceNode:
		i, err := strconv.Atoi(path[0])
		if err == nil && i >= 0 && i < len(n.Content) {
			if deeper := find(n.Content[i], path[1:]); deeper > 0 {
				return deeper
			}
			return n.Content[i].Line
		}
	}
	return 0
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// keyLine returns the line of key in mapping n, or 0.
func keyLine(n *yaml.Node, key string) int {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}
