package translate

import (
	"fmt"
	"slices"
	"strings"
)

// Stack is one deploy unit: one or more services deployed under one lock,
// with one release number, one history record and one rollback that
// restores every service. Each service is an [App]. A single app is a
// stack of one (see [StackOf]).
//
// A Stack is plain data. Build one in Go, load ferry's spec or compose
// files into one, then call [Stack.Validate].
type Stack struct {
	// Name names the stack: the compose project, the value of the
	// [LabelInstance]-style labels that tie the stack's objects together
	// on Kubernetes, and the directory of its state on the host. It must
	// be a DNS-1123 label of at most 52 characters.
	Name string `yaml:"name"`
	// Services are the stack's services. Their names are unique within
	// the stack. Order is not significant: [Stack.Order] gives the
	// dependency order.
	Services []*App `yaml:"services"`
	// Compose is the normalized compose project, as `docker compose
	// config` prints it, when the stack was loaded from compose files;
	// nil for stacks built in Go or from ferry's spec. Targets that run
	// Compose deploy it as it is, so nothing is lost in translation.
	Compose []byte `yaml:"-"`
	// Files are the files Compose refers to by path, with paths
	// relative to the compose project's directory ("secrets/db-password",
	// "configs/nginx.conf"): the secrets and configs that compose files
	// give as files. Loaders that set Compose fill it and rewrite the
	// references in Compose to these paths, so that targets which deploy
	// Compose upload them next to it and the project works on a remote
	// host. Files marked Secret are written 0600 and never printed.
	Files []File `yaml:"-"`
	// Warnings lists what was read but cannot be expressed by a
	// translation, each with where it came from. Loaders fill it; the
	// translators append to a copy in their own results.
	Warnings []Warning `yaml:"-"`
}

// Warning reports a key or value that a translation cannot express and
// therefore leaves out or changes. Warnings are never silent: targets put
// them on the plan and the examples print them.
type Warning struct {
	// File and Line locate the key in its source file; empty and 0 when
	// unknown (a stack built in Go).
	File string
	Line int
	// Service names the service the key belongs to; empty for top-level
	// keys.
	Service string
	// Key is the key's path within the service, as written in YAML:
	// "deploy.placement", "ports[1].host_ip".
	Key string
	// Message says what happens to the value and why.
	Message string
}

// String returns "file:line: service: key: message", leaving out the
// parts that are unknown.
func (w Warning) String() string {
	var parts []string
	switch {
	case w.File != "" && w.Line > 0:
		parts = append(parts, fmt.Sprintf("%s:%d", w.File, w.Line))
	case w.File != "":
		parts = append(parts, w.File)
	case w.Line > 0:
		parts = append(parts, fmt.Sprintf("line %d", w.Line))
	}
	if w.Service != "" {
		parts = append(parts, "service "+w.Service)
	}
	if w.Key != "" {
		parts = append(parts, w.Key)
	}
	parts = append(parts, w.Message)
	return strings.Join(parts, ": ")
}

// Dependency is a service another service needs before it starts, as
// Compose's depends_on says.
type Dependency struct {
	// Service names a service of the same stack.
	Service string `yaml:"service"`
	// Condition is what the dependency must reach first:
	// "service_started" (the default when empty), "service_healthy"
	// (its health check passes; the dependency must have one) or
	// "service_completed_successfully" (it ran to exit status 0).
	Condition string `yaml:"condition,omitempty"`
}

// Dependency conditions, as Compose spells them.
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

// StackOf returns the stack of one that deploys app alone: the stack and
// its only service share the app's name.
func StackOf(app *App) *Stack {
	return &Stack{Name: app.Name, Services: []*App{app}}
}

// Service returns the service named name, or nil.
func (s *Stack) Service(name string) *App {
	for _, a := range s.Services {
		if a != nil && a.Name == name {
			return a
		}
	}
	return nil
}

// Validate checks the stack and every service against the spec's rules
// and returns a [*ValidationError] listing all problems, or nil. Problems
// of a service have paths starting "services[name].". Beyond each
// service's own rules: the stack needs a name and at least one service,
// service names are unique, every dependency names a service of the
// stack (one with a health check when the condition is
// [ConditionHealthy]), and dependencies have no cycle (the cycle is
// named).
func (s *Stack) Validate() error {
	if s == nil {
		return &ValidationError{Problems: []Problem{{Message: "no stack (nil *Stack)"}}}
	}
	return check(s.validate)
}

func (s *Stack) validate(ps *problems) {
	switch {
	case s.Name == "":
		ps.add("name", "is required")
	case len(s.Name) > maxAppNameLen || !isDNS1123Label(s.Name):
		ps.add("name", "%s must be a DNS-1123 label of at most %d characters (lowercase letters, digits and '-')", quoteVal(s.Name), maxAppNameLen)
	}
	if len(s.Services) == 0 {
		ps.add("services", "at least one service is required")
	}
	seen := map[string]bool{}
	for i, a := range s.Services {
		if a == nil {
			ps.add(fmt.Sprintf("services[%d]", i), "is empty")
			continue
		}
		prefix := fmt.Sprintf("services[%s].", a.Name)
		if a.Name == "" {
			prefix = fmt.Sprintf("services[%d].", i)
		}
		if a.Name != "" && seen[a.Name] {
			ps.add(prefix+"name", "%s is used by more than one service", quoteVal(a.Name))
		}
		seen[a.Name] = true
		var own problems
		a.validate(&own)
		for _, p := range own {
			ps.add(prefix+p.Path, "%s", p.Message)
		}
		for j, d := range a.DependsOn {
			path := fmt.Sprintf("%sdepends_on[%d]", prefix, j)
			dep := s.Service(d.Service)
			switch {
			case d.Service == a.Name:
				ps.add(path, "a service cannot depend on itself")
			case dep == nil:
				ps.add(path, "no service named %s in the stack", quoteVal(d.Service))
			}
			switch d.Condition {
			case "", ConditionStarted, ConditionCompleted:
			case ConditionHealthy:
				if dep != nil && dep.Health == nil {
					ps.add(path+".condition", "%s has no health check, so it can never be healthy", quoteVal(d.Service))
				}
			default:
				ps.add(path+".condition", "%s is not one of %s, %s, %s", quoteVal(d.Condition), ConditionStarted, ConditionHealthy, ConditionCompleted)
			}
		}
	}
	if cycle := s.cycle(); cycle != nil {
		ps.add("services", "depends_on has a cycle: %s", strings.Join(cycle, " -> "))
	}
}

// Order returns the services in dependency order: every service after
// the services it depends on, ties broken by name, so the order is the
// same for the same stack. It fails, naming the cycle, when dependencies
// form one.
func (s *Stack) Order() ([]*App, error) {
	if cycle := s.cycle(); cycle != nil {
		return nil, fmt.Errorf("translate: depends_on has a cycle: %s", strings.Join(cycle, " -> "))
	}
	var out []*App
	done := map[string]bool{}
	var visit func(a *App)
	visit = func(a *App) {
		if done[a.Name] {
			return
		}
		done[a.Name] = true
		for _, d := range sortedDeps(a) {
			if dep := s.Service(d); dep != nil {
				visit(dep)
			}
		}
		out = append(out, a)
	}
	for _, a := range s.byName() {
		visit(a)
	}
	return out, nil
}

// cycle returns one dependency cycle as service names, first name
// repeated at the end ("a", "b", "a"), or nil.
func (s *Stack) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(a *App) bool
	visit = func(a *App) bool {
		color[a.Name] = grey
		stack = append(stack, a.Name)
		for _, d := range sortedDeps(a) {
			dep := s.Service(d)
			if dep == nil || d == a.Name {
				continue
			}
			switch color[d] {
			case grey:
				i := slices.Index(stack, d)
				found = append(slices.Clone(stack[i:]), d)
				return true
			case white:
				if visit(dep) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[a.Name] = black
		return false
	}
	for _, a := range s.byName() {
		if color[a.Name] == white && visit(a) {
			return found
		}
	}
	return nil
}

// byName returns the non-nil services sorted by name.
func (s *Stack) byName() []*App {
	var out []*App
	for _, a := range s.Services {
		if a != nil {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b *App) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// sortedDeps returns the names a depends on, sorted and without
// duplicates.
func sortedDeps(a *App) []string {
	var names []string
	for _, d := range a.DependsOn {
		names = append(names, d.Service)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
