package destination

// This file joins the translations of a stack's services into what the
// targets deploy. It is the one place in destination that reads YAML:
// a compose project given by the user (Stack.Compose) that Swarm must
// adapt, and the per-service translations merged into one project.

import (
	"bytes"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/translate"
)

// composeFile is the compose project's file in the stack's directory.
const composeFile = "compose.yaml"

// composeFiles returns the files of the stack's compose project,
// compose.yaml first: Stack.Compose as it is when set; otherwise the
// translation of its one service; otherwise the translations of its
// services merged into one project with their depends_on.
func composeFiles(s *stackPlan, opts []translate.ComposeOption) ([]translate.File, error) {
	if s.Compose != nil {
		// Mode 0600: a normalized project holds the env files' values.
		return []translate.File{{Path: composeFile, Data: s.Compose, Mode: 0o600}}, nil
	}
	if len(s.order) == 1 {
		return translate.ToCompose(s.order[0], opts...)
	}
	root := newYAMLMap()
	services := newYAMLMap()
	var side []translate.File
	for _, a := range s.order {
		files, err := translate.ToCompose(a, opts...)
		if err != nil {
			return nil, fmt.Errorf("destination: service %s: %w", a.Name, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(files[0].Data, &doc); err != nil || len(doc.Content) != 1 {
			return nil, fmt.Errorf("destination: service %s: reading its compose translation: %v", a.Name, err)
		}
		proj := doc.Content[0]
		svc := mapGet(mapGet(proj, "services"), a.Name)
		if svc == nil {
			return nil, fmt.Errorf("destination: service %s: its compose translation has no such service", a.Name)
		}
		side = append(side, separateSecrets(a.Name, proj, svc, files[1:])...)
		if deps := dependsOn(a); deps != nil {
			mapSet(svc, "depends_on", deps)
		}
		mapSet(services, a.Name, svc)
		for i := 0; i+1 < len(proj.Content); i += 2 {
			key, val := proj.Content[i].Value, proj.Content[i+1]
			switch key {
			case "services":
				mapSet(root, "services", services)
			case "name":
				mapSet(root, key, val)
			default: // networks, volumes, secrets: the union, first one wins
				top := mapGet(root, key)
				if top == nil {
					top = newYAMLMap()
					mapSet(root, key, top)
				}
				for j := 0; j+1 < len(val.Content); j += 2 {
					if mapGet(top, val.Content[j].Value) == nil {
						mapSet(top, val.Content[j].Value, val.Content[j+1])
					}
				}
			}
		}
	}
	data, err := encodeYAML(root)
	if err != nil {
		return nil, err
	}
	return append([]translate.File{{Path: composeFile, Data: data, Mode: 0o644}}, side...), nil
}

// separateSecrets renames the secrets of service name in its compose
// translation so that services of one project cannot collide: compose
// secret "x" becomes "<name>_x" in file secrets/<name>/x, and the
// service's secrets.env becomes secrets/<name>.env. It returns the
// service's side files under their new paths.
func separateSecrets(name string, proj, svc *yaml.Node, files []translate.File) []translate.File {
	out := make([]translate.File, len(files))
	for i, f := range files {
		switch {
		case f.Path == "secrets.env":
			f.Path = "secrets/" + name + ".env"
		default:
			f.Path = "secrets/" + name + "/" + f.Path[len("secrets/"):]
		}
		out[i] = f
	}
	if envFiles := mapGet(svc, "env_file"); envFiles != nil {
		for _, n := range envFiles.Content {
			if n.Value == "./secrets.env" {
				n.Value = "./secrets/" + name + ".env"
			}
		}
	}
	if refs := mapGet(svc, "secrets"); refs != nil {
		for _, r := range refs.Content {
			if src := mapGet(r, "source"); src != nil {
				src.Value = name + "_" + src.Value
			}
		}
	}
	if top := mapGet(proj, "secrets"); top != nil {
		for i := 0; i+1 < len(top.Content); i += 2 {
			key := top.Content[i].Value
			top.Content[i].Value = name + "_" + key
			if file := mapGet(top.Content[i+1], "file"); file != nil {
				file.Value = "./secrets/" + name + "/" + key
			}
		}
	}
	return out
}

// dependsOn renders a's dependencies in Compose's long form, or nil.
func dependsOn(a *translate.App) *yaml.Node {
	if len(a.DependsOn) == 0 {
		return nil
	}
	deps := slices.Clone(a.DependsOn)
	slices.SortStableFunc(deps, func(x, y translate.Dependency) int {
		if x.Service < y.Service {
			return -1
		}
		if x.Service > y.Service {
			return 1
		}
		return 0
	})
	m := newYAMLMap()
	for _, d := range deps {
		cond := d.Condition
		if cond == "" {
			cond = translate.ConditionStarted
		}
		entry := newYAMLMap()
		mapSet(entry, "condition", yamlStr(cond))
		mapSet(m, d.Service, entry)
	}
	return m
}

// forSwarm adapts the compose project in files[0] to what `docker stack
// deploy` accepts, and says what it left out. The translation of a
// single app needs no change.
func forSwarm(s *stackPlan, files []translate.File) ([]translate.Warning, error) {
	if s.Compose == nil && len(s.order) == 1 {
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(files[0].Data, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("destination: the stack's compose project is not a YAML mapping: %v", err)
	}
	var warnings []translate.Warning
	services := mapGet(doc.Content[0], "services")
	if services == nil {
		return nil, fmt.Errorf("destination: the stack's compose project has no services")
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		name, svc := services.Content[i].Value, services.Content[i+1]
		if mapDelete(svc, "depends_on") {
			warnings = append(warnings, translate.Warning{Service: name, Key: "depends_on",
				Message: "left out: Swarm starts a stack's services in no particular order; the service must wait for its dependencies itself"})
		}
		if mapDelete(svc, "build") {
			msg := "left out: Swarm does not build images; the image must exist on every node"
			if mapGet(svc, "image") == nil {
				return nil, fmt.Errorf("destination: service %s: Swarm needs an image, and the service has only build", name)
			}
			warnings = append(warnings, translate.Warning{Service: name, Key: "build", Message: msg})
		}
	}
	data, err := encodeYAML(doc.Content[0])
	if err != nil {
		return nil, err
	}
	files[0].Data = data
	return warnings, nil
}

func newYAMLMap() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func yamlStr(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// mapGet returns the value of key in mapping m, or nil.
func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapSet sets key in mapping m to v, in place or at the end.
func mapSet(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, yamlStr(key), v)
}

// mapDelete removes key from mapping m and reports whether it was there.
func mapDelete(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return true
		}
	}
	return false
}

func encodeYAML(n *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("destination: %v", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("destination: %v", err)
	}
	return buf.Bytes(), nil
}
