package compose

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/ferryhq/ferry/translate"
)

var (
	dns1123RE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1035RE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	notLabel  = regexp.MustCompile(`[^a-z0-9-]+`)
)

// maxStackName is the longest stack name translate accepts.
const maxStackName = 52

// mapper maps a loaded project to a stack, collecting warnings.
type mapper struct {
	project  *types.Project
	src      *sources
	warnings []translate.Warning
	// volumeUsers counts the services that mount each named volume.
	volumeUsers map[string][]string
	// mentioned holds the service names that other services name in
	// depends_on, links or environment values: they must be reachable.
	mentioned map[string]bool
}

// warn records a warning for service (empty for the project) at the key
// path (YAML keys and sequence indexes).
func (m *mapper) warn(service string, path []string, format string, args ...any) {
	file, line := m.src.at(service, path...)
	m.warnings = append(m.warnings, translate.Warning{
		File: file, Line: line, Service: service, Key: keyString(path),
		Message: fmt.Sprintf(format, args...),
	})
}

// keyString writes a path as "deploy.placement" or "ports[1].host_ip".
func keyString(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if p != "" && p[0] >= '0' && p[0] <= '9' && i > 0 {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// toStack maps the project to a valid stack.
func toStack(project *types.Project, src *sources) (*translate.Stack, error) {
	m := &mapper{project: project, src: src, volumeUsers: map[string][]string{}, mentioned: map[string]bool{}}
	m.survey()
	s := &translate.Stack{Name: m.stackName()}
	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		app := m.service(name, project.Services[name])
		s.Services = append(s.Services, app)
	}
	m.topLevel()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	sort.SliceStable(m.warnings, func(i, j int) bool {
		a, b := m.warnings[i], m.warnings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Message < b.Message
	})
	s.Warnings = m.warnings
	return s, nil
}

// stackName turns the project name into a DNS-1123 label.
func (m *mapper) stackName() string {
	name := m.project.Name
	clean := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(clean) > maxStackName {
		clean = strings.TrimRight(clean[:maxStackName], "-")
	}
	if clean != name {
		m.warn("", []string{"name"}, "project name %q is %q on Kubernetes (labels need a DNS-1123 label of at most %d characters)", name, clean, maxStackName)
	}
	return clean
}

// survey records which services share named volumes and which services
// others refer to by name.
func (m *mapper) survey() {
	for name, svc := range m.project.Services {
		seen := map[string]bool{}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" && !seen[v.Source] {
				seen[v.Source] = true
				m.volumeUsers[v.Source] = append(m.volumeUsers[v.Source], name)
			}
		}
		for dep := range svc.DependsOn {
			m.mentioned[dep] = true
		}
		for _, l := range svc.Links {
			target, _, _ := strings.Cut(l, ":")
			m.mentioned[target] = true
		}
		for _, v := range svc.Environment {
			if v == nil {
				continue
			}
			for other := range m.project.Services {
				if other != name && mentions(*v, other) {
					m.mentioned[other] = true
				}
			}
		}
	}
	for _, users := range m.volumeUsers {
		sort.Strings(users)
	}
}

// mentions reports whether s names host as a whole word: "db",
// "db:5432", "postgres://u@db/x".
func mentions(s, host string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], host)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(host)
		before := start == 0 || !isNameByte(s[start-1])
		after := end == len(s) || !isNameByte(s[end])
		if before && after {
			return true
		}
		i = start + 1
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// topLevel warns about top-level sections the stack does not carry:
// networks with settings, external volumes and volume drivers.
func (m *mapper) topLevel() {
	for _, name := range sortedKeys(m.project.Networks) {
		n := m.project.Networks[name]
		if name == "default" && !bool(n.External) && n.Driver == "" {
			continue
		}
		m.warn("", []string{"networks", name}, "not translated: Kubernetes has one flat pod network, where every service reaches every other")
	}
	for _, name := range sortedKeys(m.project.Volumes) {
		v := m.project.Volumes[name]
		if bool(v.External) {
			m.warn("", []string{"volumes", name}, "external volume: on Kubernetes each service that mounts it gets a new, empty PersistentVolumeClaim")
		}
		if v.Driver != "" || len(v.DriverOpts) > 0 {
			m.warn("", []string{"volumes", name}, "volume driver and options are not translated: the claim uses the cluster's default StorageClass")
		}
	}
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
