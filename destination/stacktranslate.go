package destination

// This file gives the Docker and Swarm targets their compose project. It
// is the one place in destination that reads YAML: the project Swarm
// must adapt (the user's Stack.Compose, or a stack's translation with
// its depends_on).

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/internal/prevalidated"
	"github.com/ferryhq/ferry/internal/yamlenc"
	"github.com/ferryhq/ferry/translate"
)

// composeFile is the compose project's file in the stack's directory.
const composeFile = "compose.yaml"

// composeFiles returns the files of the stack's compose project,
// compose.yaml first: Stack.Compose as it is when set, otherwise the
// translation of its services (with their depends_on).
func composeFiles(s *stackPlan, opts []translate.ComposeOption) ([]translate.File, error) {
	if s.Compose != nil {
		// Mode 0600: a normalized project holds the env files' values.
		// Then the files it refers to by relative path (secrets and
		// configs given as files), which must travel with it.
		files := []translate.File{{Path: composeFile, Data: s.Compose, Mode: 0o600}}
		return append(files, s.Stack.Files...), nil
	}
	return stackToCompose(s, opts)
}

// stackToCompose and stackObjects translate a stack that planApp or
// planStack has validated, without validating it again.
func stackToCompose(s *stackPlan, opts []translate.ComposeOption) ([]translate.File, error) {
	return prevalidated.StackToCompose.(func(*translate.Stack, []translate.ComposeOption) ([]translate.File, error))(s.Stack, opts)
}

func stackObjects(s *stackPlan, opts []translate.KubernetesOption) ([]translate.Object, error) {
	return prevalidated.StackObjects.(func(*translate.Stack, []translate.KubernetesOption) ([]translate.Object, error))(s.Stack, opts)
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

// encodeYAML writes n with two-space indentation.
func encodeYAML(n *yaml.Node) ([]byte, error) {
	data, err := yamlenc.Encode(n)
	if err != nil {
		return nil, fmt.Errorf("destination: %v", err)
	}
	return data, nil
}
