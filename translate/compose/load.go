package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/internal/yamlenc"
	"github.com/ferryhq/ferry/translate"
)

// Options control how [Load] reads compose files. The zero value loads
// as `docker compose` does in the directory of the first file, with the
// process environment.
type Options struct {
	// WorkingDir is the project directory, against which relative paths,
	// the .env file and the default project name are resolved. Empty
	// means the directory of the first file.
	WorkingDir string
	// Name is the project name (`docker compose -p`). Empty means
	// Compose's rules: COMPOSE_PROJECT_NAME, the top-level name, else
	// the project directory's name.
	Name string
	// Env holds the environment for interpolation, as "KEY=value"
	// entries. Nil means the process environment (os.Environ); use an
	// empty non-nil slice for none.
	Env []string
	// EnvFiles replace the project's .env file (`docker compose
	// --env-file`). Nil reads the project directory's .env when it
	// exists.
	EnvFiles []string
	// Profiles enables the services of these profiles (`docker compose
	// --profile`). Nil means COMPOSE_PROFILES from the environment.
	Profiles []string
	// Strict turns every warning into an error: Load returns a
	// [*StrictError] listing them.
	Strict bool
}

// Error is an invalid compose file, with Compose's own message and,
// when known, the file and line it is about.
type Error struct {
	// File is the compose file, or empty when Compose does not say.
	File string
	// Line is the line in File, or 0 when unknown.
	Line int
	// Err is Compose's error.
	Err error
}

// Error returns "compose: file:line: message", leaving out what is
// unknown.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("compose: %s:%d: %v", e.File, e.Line, e.Err)
	case e.File != "":
		return fmt.Sprintf("compose: %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("compose: %v", e.Err)
}

// Unwrap returns Compose's error.
func (e *Error) Unwrap() error { return e.Err }

// StrictError is returned by [Load] with [Options.Strict] when the
// translation has warnings.
type StrictError struct {
	// Warnings lists every warning, at least one.
	Warnings []translate.Warning
}

// Error prints "compose: strict: N warnings" and one warning per line.
func (e *StrictError) Error() string {
	lines := []string{fmt.Sprintf("compose: strict mode: %d warning(s)", len(e.Warnings))}
	for _, w := range e.Warnings {
		lines = append(lines, w.String())
	}
	return strings.Join(lines, "\n")
}

// Load reads the compose files, merged in order, and returns the stack:
// its Compose bytes (the normalized project), its services mapped to
// [translate.App] values, and Warnings for everything the mapping leaves
// out or changes. The stack is valid ([translate.Stack.Validate]).
//
// An invalid compose file gives an [*Error]; a project that loads but
// cannot become a valid stack (a service name that is not a DNS-1035
// label, say) gives a [*translate.ValidationError]; with
// [Options.Strict], warnings give a [*StrictError].
func Load(ctx context.Context, files []string, opts Options) (*translate.Stack, error) {
	if len(files) == 0 {
		return nil, errors.New("compose: no compose file")
	}
	project, err := loadProject(ctx, files, opts)
	if err != nil {
		return nil, err
	}
	src, err := newSources(project, files)
	if err != nil {
		return nil, err
	}
	s, err := toStack(project, src)
	if err != nil {
		return nil, err
	}
	// After toStack, which reads the secrets and configs where they are.
	if s.Files, err = carryFiles(project, src); err != nil {
		return nil, err
	}
	if s.Compose, err = normalized(project); err != nil {
		return nil, err
	}
	if opts.Strict && len(s.Warnings) > 0 {
		return nil, &StrictError{Warnings: s.Warnings}
	}
	return s, nil
}

// loadProject runs Compose's loader with the options docker compose uses.
func loadProject(ctx context.Context, files []string, opts Options) (*types.Project, error) {
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	fns := []cli.ProjectOptionsFn{
		cli.WithEnv(env),
		cli.WithName(opts.Name),
		cli.WithResolvedPaths(true),
	}
	if opts.WorkingDir != "" {
		fns = append(fns, cli.WithWorkingDirectory(opts.WorkingDir))
	}
	if opts.EnvFiles != nil {
		fns = append(fns, cli.WithEnvFiles(opts.EnvFiles...))
	} else {
		fns = append(fns, cli.WithEnvFiles())
	}
	fns = append(fns, cli.WithDotEnv)
	if opts.Profiles != nil {
		fns = append(fns, cli.WithProfiles(opts.Profiles))
	} else {
		fns = append(fns, cli.WithDefaultProfiles())
	}
	po, err := cli.NewProjectOptions(files, fns...)
	if err != nil {
		return nil, locate(files, err)
	}
	project, err := po.LoadProject(ctx)
	if err != nil {
		return nil, locate(files, err)
	}
	project, err = project.WithServicesEnvironmentResolved(true)
	if err != nil {
		return nil, locate(files, err)
	}
	return project.WithoutUnnecessaryResources(), nil
}

// normalized returns the project as `docker compose config` prints it:
// YAML with every "$" written "$$", so that loading it again
// interpolates nothing.
func normalized(project *types.Project) ([]byte, error) {
	data, err := project.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("compose: reading the normalized project: %w", err)
	}
	escapeDollars(&doc)
	data, err = yamlenc.Encode(&doc)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return data, nil
}

func escapeDollars(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!str" || n.Tag == "" {
			n.Value = strings.ReplaceAll(n.Value, "$", "$$")
		}
		return
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue
		}
		escapeDollars(c)
	}
}

var (
	yamlLineRE      = regexp.MustCompile(`(?:yaml: )?line (\d+):`)
	interpolatingRE = regexp.MustCompile(`interpolating ([\w.\-]+)`)
	schemaKeyRE     = regexp.MustCompile(`^(?:validating [^:]+: )?([\w.\-\[\]]+) (?:additional properties '([^']+)' not allowed|.*)`)
)

// locate turns a loader error into an [*Error] with the file and, where
// the message allows it, the line.
func locate(files []string, err error) error {
	e := &Error{Err: err}
	msg := err.Error()
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		if strings.Contains(msg, f) || (abs != "" && strings.Contains(msg, abs)) {
			e.File = f
		}
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		if e.File == "" && len(files) == 1 {
			e.File = files[0]
		}
		return e
	}
	var path []string
	if m := interpolatingRE.FindStringSubmatch(msg); m != nil {
		path = strings.Split(m[1], ".")
	} else if m := schemaKeyRE.FindStringSubmatch(msg); m != nil {
		path = strings.Split(m[1], ".")
		if m[2] != "" {
			path = append(path, m[2])
		}
	}
	if path != nil {
		candidates := files
		if e.File != "" {
			candidates = []string{e.File}
		}
		for i := len(candidates) - 1; i >= 0; i-- {
			if line := lineOf(candidates[i], path); line > 0 {
				e.File, e.Line = candidates[i], line
				break
			}
		}
	}
	if e.File == "" && len(files) == 1 {
		e.File = files[0]
	}
	return e
}

// lineOf returns the line of the key at path in the YAML file, or 0.
func lineOf(file string, path []string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	return find(doc.Content[0], path)
}

// composeOnlyKeys are top-level and service keys that ferry's own spec
// does not have.
var composeOnlyKeys = map[string]bool{
	"include": true, "networks": true, "volumes": true, "secrets": true, "configs": true,
	"version": true, "models": true,
}

var composeServiceKeys = map[string]bool{
	"environment": true, "healthcheck": true, "deploy": true, "build": true, "expose": true,
	"networks": true, "container_name": true, "env_file": true, "entrypoint": true,
	"extends": true, "profiles": true, "configs": true, "tmpfs": true, "links": true,
	"logging": true, "network_mode": true, "stop_signal": true, "ulimits": true,
}

// IsComposeFile reports whether data looks like a compose file rather
// than ferry's own spec (see [translate.ParseStack]): a YAML mapping
// with top-level services whose form or keys are Compose's, or with a
// top-level key ferry's spec does not have (include, networks, volumes,
// secrets, configs, x-...), or without a top-level name. A ferry app has
// no services key; a ferry stack has a name and lists its services with
// ferry's keys. Programs that accept
// either use it to choose the loader.
func IsComposeFile(data []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	root := doc.Content[0]
	if keyLine(root, "services") == 0 && keyLine(root, "include") == 0 {
		return false // a ferry app (whose volumes and secrets are its own)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		if composeOnlyKeys[k] || strings.HasPrefix(k, "x-") {
			return true
		}
	}
	if get(root, "name") == nil {
		return true // ferry's stacks are named; Compose projects need not be
	}
	svcs := get(root, "services")
	if svcs == nil || svcs.Kind != yaml.MappingNode {
		return false
	}
	for i := 1; i < len(svcs.Content); i += 2 {
		svc := deref(svcs.Content[i])
		if svc == nil || svc.Kind != yaml.MappingNode {
			return true // "web:" with nothing, or an anchor Compose resolves
		}
		for j := 0; j+1 < len(svc.Content); j += 2 {
			k := svc.Content[j].Value
			if composeServiceKeys[k] || k == "<<" || strings.HasPrefix(k, "x-") {
				return true
			}
		}
		if composeForm(get(svc, "ports")) || composeForm(get(svc, "depends_on")) || composeForm(get(svc, "volumes")) {
			return true
		}
		if cmd := get(svc, "command"); cmd != nil && cmd.Kind == yaml.ScalarNode {
			return true
		}
	}
	return false
}

// composeForm reports whether a list holds plain strings or numbers, or
// is a mapping, which ferry's spec never writes for ports, depends_on and
// volumes.
func composeForm(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.Kind == yaml.MappingNode {
		return true
	}
	for _, c := range n.Content {
		if deref(c) != nil && deref(c).Kind == yaml.ScalarNode {
			return true
		}
	}
	return false
}
