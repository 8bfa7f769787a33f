package destination

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/shquote"
	"github.com/ferryhq/ferry/translate"
)

// Target plans deployments of stacks to one kind of destination.
// Implementations are [Docker], [Swarm] and [Kubernetes].
//
// The unit of deployment is a [translate.Stack]: one or more services
// deployed under one lock, with one release number, one history record
// and one rollback that restores every service. Plan is the short form
// for the common case of one app.
type Target interface {
	// Plan returns what deploying app alone involves: the plan of
	// PlanStack(translate.StackOf(app)). It returns the app's
	// [*translate.ValidationError] when the app is invalid.
	Plan(app *translate.App) (*Plan, error)
	// PlanStack returns what deploying every service of stack involves.
	// It does no I/O: the same stack and target always give the same
	// plan. It returns the stack's [*translate.ValidationError] when the
	// stack is invalid (a bad service, a dependency cycle).
	PlanStack(stack *translate.Stack) (*Plan, error)
}

// Plan is everything a deploy of one stack runs on its host, as data.
// [Deploy] runs it; [Plan.String] prints it as a dry run. A Plan must
// not be modified while [Deploy] uses it.
type Plan struct {
	// Target names the kind of destination: "docker", "swarm" or
	// "kubernetes".
	Target string
	// App is the stack's name (for a single app, the app's name): it
	// names the lock, the history and the directory on the host.
	App string
	// Services names the stack's services in dependency order (see
	// [translate.Stack.Order]); one name for a single app.
	Services []string
	// Image is the image of a single app, or for a stack of several
	// services "service=image" for each, in Services order, separated
	// by ", ". It is recorded in the history.
	Image string
	// Warnings lists what the stack's loader and this target's
	// translation could not express and left out or changed, each with
	// where it came from. Deploy does not look at them; a caller that
	// wants no loss refuses a plan that has any. [Plan.String] prints
	// them.
	Warnings []translate.Warning
	// Dir is the app's directory on the host, where its files and its
	// state (lock, history, releases) live. A relative Dir is relative
	// to the login user's home directory.
	Dir string
	// Version identifies the content of Files: two plans with the same
	// Version upload the same bytes.
	Version string
	// Files are the files to upload, with their paths on the host (all
	// under Dir). Files marked Secret have mode 0600 and are never
	// printed.
	Files []translate.File
	// Check runs before anything changes: tools present, access granted,
	// directories and network created.
	Check *executor.Pipeline
	// Apply makes the uploaded files live.
	Apply *executor.Pipeline
	// Verify checks, within Timeout, that the app came up.
	Verify *executor.Pipeline
	// Rollback brings back the previous release (its files, then apply
	// and verify), or removes the app when there was none.
	Rollback *executor.Pipeline
	// Diagnose gathers, after a failed Apply or Verify and before the
	// rollback, what explains the failure (container logs, health
	// checks, task errors, Kubernetes events); its output goes to the
	// [*Error], the [Report] and the event stream. Nil gathers nothing.
	Diagnose *executor.Pipeline
	// Remove takes the app down; see [Remove]. Its steps that delete
	// volumes run only when FERRY_REMOVE_VOLUMES is set in their
	// environment.
	Remove *executor.Pipeline
	// Timeout is the deadline for Verify (and for the verification in
	// Rollback).
	Timeout time.Duration

	builds []*imageBuild // images Deploy builds first (build.go)
	auths  []authRef     // registry credentials by reference (registry.go)
	kube   *kubeAccess   // kubectl and namespace, on Kubernetes (registry.go)
}

// stateDir is the app's state directory, relative to Dir.
const stateDir = ".ferry"

// pipelines returns the plan's pipelines in the order Deploy runs them.
func (p *Plan) pipelines() []*executor.Pipeline {
	return []*executor.Pipeline{p.Check, p.Apply, p.Verify, p.Diagnose, p.Rollback}
}

// String prints the plan as a dry run: the files, with secret ones marked
// and never shown, and every step of every pipeline. It is meant for
// people and golden tests, not for feeding to a shell.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan: deploy %s to %s\n", p.App, p.Target)
	if len(p.Services) > 1 {
		fmt.Fprintf(&b, "  services: %s (in this order)\n", strings.Join(p.Services, ", "))
	}
	fmt.Fprintf(&b, "  dir:     %s\n", p.Dir)
	if p.Image != "" {
		fmt.Fprintf(&b, "  image:   %s\n", p.Image)
	}
	fmt.Fprintf(&b, "  version: %s\n", p.Version)
	fmt.Fprintf(&b, "  timeout: %s\n", p.Timeout)
	if len(p.Warnings) > 0 {
		fmt.Fprintf(&b, "warnings:\n")
		for _, w := range p.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	fmt.Fprintf(&b, "lock: mkdir %s\n", path.Join(p.Dir, stateDir, "lock"))
	fmt.Fprintf(&b, "files:\n")
	for _, f := range p.Files {
		mark := ""
		if f.Secret {
			mark = " (secret, not shown)"
		}
		fmt.Fprintf(&b, "  %s %s%s\n", f.Mode.Perm(), f.Path, mark)
	}
	writeBuilds(&b, p.builds)
	for _, pl := range p.pipelines() {
		writePipeline(&b, pl)
	}
	fmt.Fprintf(&b, "record: append to %s; keep files in %s/N\n",
		path.Join(p.Dir, stateDir, "history.jsonl"), path.Join(p.Dir, stateDir, "releases"))
	return b.String()
}

func writePipeline(b *strings.Builder, pl *executor.Pipeline) {
	if pl == nil {
		return
	}
	fmt.Fprintf(b, "%s:\n", pl.Name)
	if pl.Dir != "" {
		fmt.Fprintf(b, "  (in %s)\n", pl.Dir)
	}
	for _, e := range pl.Env {
		fmt.Fprintf(b, "  env %s\n", e)
	}
	for i, s := range pl.Steps {
		var opts []string
		if s.Timeout > 0 {
			opts = append(opts, "timeout "+s.Timeout.String())
		}
		if s.IgnoreErrors {
			opts = append(opts, "errors ignored")
		}
		if s.Hidden {
			opts = append(opts, "hidden")
		}
		if s.Save != "" {
			opts = append(opts, "saved as "+s.Save)
		}
		extra := ""
		if len(opts) > 0 {
			extra = " [" + strings.Join(opts, ", ") + "]"
		}
		fmt.Fprintf(b, "  %d. %s%s\n", i+1, s.Name, extra)
		for _, e := range s.Env {
			fmt.Fprintf(b, "       env %s\n", e)
		}
		if s.Dir != "" {
			fmt.Fprintf(b, "       (in %s)\n", s.Dir)
		}
		if len(s.Args) > 0 {
			fmt.Fprintf(b, "       $ %s\n", shquote.Join(s.Args))
		}
		if s.Script != "" {
			for _, line := range strings.Split(strings.TrimRight(s.Script, "\n"), "\n") {
				fmt.Fprintf(b, "       | %s\n", line)
			}
		}
	}
}

// version hashes the files' paths, modes and contents.
func version(files []translate.File) string {
	sorted := append([]translate.File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	h := sha256.New()
	for _, f := range sorted {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", f.Path, f.Mode.Perm(), len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// checkFiles rejects file paths that would leave the app's directory or
// collide with its state.
func checkFiles(files []translate.File) error {
	for _, f := range files {
		p := f.Path
		if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("destination: file path %q must be relative and clean", p)
		}
		if p == stateDir || strings.HasPrefix(p, stateDir+"/") {
			return fmt.Errorf("destination: file path %q is reserved for ferry's state", p)
		}
	}
	return nil
}

// fileMode returns f's mode, 0600 for secrets and 0644 otherwise when
// unset.
func fileMode(f translate.File) fs.FileMode {
	if f.Mode.Perm() != 0 {
		return f.Mode.Perm()
	}
	if f.Secret {
		return 0o600
	}
	return 0o644
}

// fileDirs returns the directories, relative to the app directory, that
// files need, sorted.
func fileDirs(files []translate.File) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, f := range files {
		d := path.Dir(f.Path)
		if d != "." && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	return dirs
}

// fileList is the FERRY_FILES value: one relative path a line.
func fileList(files []translate.File) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Path
	}
	sort.Strings(names)
	return strings.Join(names, "\n")
}

// appDir joins the target's base directory and the app's name.
func appDir(base, def, name string) string {
	if base == "" {
		base = def
	}
	return path.Join(base, name)
}

func seconds(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return fmt.Sprint(s)
}

// stackPlan is a validated stack with its services in dependency order:
// what every target plans from.
type stackPlan struct {
	*translate.Stack
	order []*translate.App
}

// planApp validates app once and plans it as a stack of one.
func planApp(app *translate.App, plan func(*stackPlan) (*Plan, error)) (*Plan, error) {
	if app == nil {
		return nil, fmt.Errorf("destination: nil app")
	}
	// A lone app's depends_on only a stack's rules cover: such an app
	// is validated as the stack of one it is planned as, with those
	// rules' paths (services[name].).
	stack := translate.StackOf(app)
	validate := app.Validate
	if len(app.DependsOn) > 0 {
		validate = stack.Validate
	}
	if err := validate(); err != nil {
		return nil, err
	}
	return planBuilds(&stackPlan{Stack: stack, order: []*translate.App{app}}, plan)
}

// planStack validates s once and plans it.
func planStack(s *translate.Stack, plan func(*stackPlan) (*Plan, error)) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	order, err := s.Order()
	if err != nil {
		return nil, err
	}
	return planBuilds(&stackPlan{Stack: s, order: order}, plan)
}

// image is the value of [Plan.Image].
func (s *stackPlan) image() string {
	if len(s.order) == 1 {
		return s.order[0].Image
	}
	parts := make([]string, len(s.order))
	for i, a := range s.order {
		parts[i] = a.Name + "=" + a.Image
	}
	return strings.Join(parts, ", ")
}

// names returns the services' names in dependency order.
func (s *stackPlan) names() []string {
	out := make([]string, len(s.order))
	for i, a := range s.order {
		out[i] = a.Name
	}
	return out
}

// waitedOn reports whether a service of the stack waits for name to be
// healthy before it starts.
func (s *stackPlan) waitedOn(name string) bool {
	for _, a := range s.order {
		for _, d := range a.DependsOn {
			if d.Service == name && d.Condition == translate.ConditionHealthy {
				return true
			}
		}
	}
	return false
}

// translationWarnings returns the stack's warnings when the target
// deploys the translation of its services. They say what the services
// (the App model) could not take from the stack's source; a target that
// deploys Stack.Compose as it is loses none of that, so it gets none.
func (s *stackPlan) translationWarnings() []translate.Warning {
	if s.Compose != nil {
		return nil
	}
	return slices.Clone(s.Warnings)
}

// newPlan is the part of a plan every target fills the same way: the
// stack's name, services, images and warnings (the stack's
// translationWarnings, then extra), the files placed under dir with their version, and the
// timeout. The target adds its pipelines, then calls [Plan.withSecrets].
func newPlan(target string, s *stackPlan, dir string, files []translate.File, timeout time.Duration, extra []translate.Warning) (*Plan, error) {
	placed, err := placeFiles(dir, files)
	if err != nil {
		return nil, err
	}
	return &Plan{
		Target:   target,
		App:      s.Name,
		Services: s.names(),
		Image:    s.image(),
		Warnings: append(s.translationWarnings(), extra...),
		Dir:      dir,
		Version:  version(files),
		Files:    placed,
		Timeout:  timeout,
	}, nil
}

// guard bounds a step that waits up to the plan's Timeout itself, so
// that a wait that never ends is still stopped.
func (p *Plan) guard() time.Duration { return p.Timeout + 30*time.Second }

// withSecrets makes every pipeline of p redact the secret values of the
// stack's services from its events, results and errors, and returns p.
func (p *Plan) withSecrets(s *stackPlan) *Plan {
	var values []string
	for _, a := range s.order {
		for _, sec := range a.Secrets {
			if sec.Value != "" {
				values = append(values, sec.Value)
			}
		}
	}
	if len(values) == 0 {
		return p
	}
	for _, pl := range append(p.pipelines(), p.Remove) {
		if pl != nil {
			pl.Secrets = append(pl.Secrets, values...)
		}
	}
	return p
}
