package destination

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/shquote"
	"github.com/ferryhq/ferry/translate"
)

// Target plans deployments of apps to one kind of destination.
// Implementations are [Docker], [Swarm] and [Kubernetes].
type Target interface {
	// Plan returns what deploying app involves. It does no I/O: the same
	// app and target always give the same plan. It returns the app's
	// [*translate.ValidationError] when the app is invalid.
	Plan(app *translate.App) (*Plan, error)
}

// Plan is everything a deploy of one app runs on its host, as data.
// [Deploy] runs it; [Plan.String] prints it as a dry run. A Plan must
// not be modified while [Deploy] uses it.
type Plan struct {
	// Target names the kind of destination: "docker", "swarm" or
	// "kubernetes".
	Target string
	// App is the app's name.
	App string
	// Image is the app's image, recorded in the history.
	Image string
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
	// Timeout is the deadline for Verify (and for the verification in
	// Rollback).
	Timeout time.Duration
}

// stateDir is the app's state directory, relative to Dir.
const stateDir = ".ferry"

// pipelines returns the plan's pipelines in the order Deploy runs them.
func (p *Plan) pipelines() []*executor.Pipeline {
	return []*executor.Pipeline{p.Check, p.Apply, p.Verify, p.Rollback}
}

// String prints the plan as a dry run: the files, with secret ones marked
// and never shown, and every step of every pipeline. It is meant for
// people and golden tests, not for feeding to a shell.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan: deploy %s to %s\n", p.App, p.Target)
	fmt.Fprintf(&b, "  dir:     %s\n", p.Dir)
	if p.Image != "" {
		fmt.Fprintf(&b, "  image:   %s\n", p.Image)
	}
	fmt.Fprintf(&b, "  version: %s\n", p.Version)
	fmt.Fprintf(&b, "  timeout: %s\n", p.Timeout)
	fmt.Fprintf(&b, "lock: mkdir %s\n", path.Join(p.Dir, stateDir, "lock"))
	fmt.Fprintf(&b, "files:\n")
	for _, f := range p.Files {
		mark := ""
		if f.Secret {
			mark = " (secret, not shown)"
		}
		fmt.Fprintf(&b, "  %s %s%s\n", f.Mode.Perm(), f.Path, mark)
	}
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

// withSecrets makes every pipeline of p redact the app's secret values
// from its events, results and errors, and returns p.
func withSecrets(p *Plan, app *translate.App) *Plan {
	var values []string
	for _, s := range app.Secrets {
		if s.Value != "" {
			values = append(values, s.Value)
		}
	}
	if len(values) == 0 {
		return p
	}
	for _, pl := range p.pipelines() {
		if pl != nil {
			pl.Secrets = append(pl.Secrets, values...)
		}
	}
	return p
}
