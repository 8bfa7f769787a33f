package translate

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Build says how the app's image is built from source, as Compose's
// `build:` section does. ferry builds it on the host that deploys (for
// Kubernetes, the host that runs kubectl), tags it with something that
// identifies the source, and deploys that tag; see the destination
// package. With Build set, [App.Image] may be empty (the image is then
// named after the app and stays on the host) or name the repository to
// tag and, for Swarm and Kubernetes, push the image to; a tag in it is
// replaced by the source's.
//
// Exactly one of Context (a directory on the machine running ferry) and
// Git (a repository the host clones) is the source.
type Build struct {
	// Context is the build context: a directory on the machine running
	// ferry, uploaded to the host as a tar stream that honours its
	// .dockerignore. A relative Context is relative to the spec file's
	// directory when the spec was read with [Load], else to the working
	// directory. With Git, Context is the subdirectory of the repository
	// to build; empty means its root.
	Context string `yaml:"context,omitempty"`
	// Git is a repository URL the host clones and fetches itself
	// ("https://...", "ssh://git@host/repo.git" or "git@host:repo.git").
	// Empty means the source is Context.
	Git string `yaml:"git,omitempty"`
	// Ref is the branch, tag or commit of Git to build. Empty means the
	// repository's default branch (HEAD).
	Ref string `yaml:"ref,omitempty"`
	// DeployKey is a private key file on the machine running ferry that
	// the host uses to fetch Git over SSH. It is copied into the app's
	// state directory on the host (mode 0600); it never appears on a
	// command line. Empty means the host's own keys, or the agent
	// forwarded to it.
	DeployKey string `yaml:"deploy_key,omitempty"`
	// KnownHosts is a known_hosts file on the machine running ferry
	// holding the Git server's host key. Empty means the key is learned
	// on the first fetch and checked on every later one (kept per app on
	// the host).
	KnownHosts string `yaml:"known_hosts,omitempty"`
	// Dockerfile is the Dockerfile's path inside the context. Empty
	// means "Dockerfile".
	Dockerfile string `yaml:"dockerfile,omitempty"`
	// Args are build arguments (--build-arg). They are part of what the
	// image tag identifies.
	Args map[string]string `yaml:"args,omitempty"`
	// Target is the stage of a multi-stage Dockerfile to build. Empty
	// means the last.
	Target string `yaml:"target,omitempty"`
	// Secrets are build secrets, mounted with RUN --mount=type=secret
	// (BuildKit). Their values are read on the machine running ferry at
	// deploy time and never stored in the image tag or history.
	Secrets []BuildSecret `yaml:"secrets,omitempty"`
}

// BuildSecret is a build secret given by reference: exactly one of Env
// and File names where its value is on the machine running ferry.
type BuildSecret struct {
	// ID is the secret's id in the Dockerfile (RUN --mount=type=secret,id=ID).
	ID string `yaml:"id"`
	// Env is an environment variable holding the value.
	Env string `yaml:"env,omitempty"`
	// File is a file holding the value.
	File string `yaml:"file,omitempty"`
}

// RegistryAuth gives the credentials of a private registry by
// reference, never the password itself: exactly one of PasswordEnv and
// PasswordFile says where the password is on the machine running ferry.
type RegistryAuth struct {
	// Registry is the registry's host[:port] as image references name it
	// ("ghcr.io", "127.0.0.1:5000"). Empty means the registry of
	// [App.Image].
	Registry string `yaml:"registry,omitempty"`
	// User is the user name.
	User string `yaml:"user"`
	// PasswordEnv is an environment variable holding the password or token.
	PasswordEnv string `yaml:"password_env,omitempty"`
	// PasswordFile is a file holding the password or token (a trailing
	// newline is ignored).
	PasswordFile string `yaml:"password_file,omitempty"`
}

var (
	secretIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	targetRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	gitRefRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}$`)
	gitURLRE   = regexp.MustCompile(`^((https?|ssh|git|file)://[^\s]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+|/[^\s]+)$`)
	hostPortRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)
)

// validate adds b's problems, under field path p ("build").
func (b *Build) validate(ps *problems, p string) {
	switch {
	case b.Git == "" && b.Context == "":
		ps.add(p, "needs a context (a local directory) or git (a repository URL)")
	case b.Git != "" && !gitURLRE.MatchString(b.Git):
		ps.add(p+".git", "%s is not a repository URL (https://, ssh://, git://, file://, user@host:path or an absolute path)", quoteVal(b.Git))
	case b.Git != "" && strings.HasPrefix(b.Git, "-"):
		ps.add(p+".git", "%s may not start with '-'", quoteVal(b.Git))
	}
	if b.Git != "" && b.Context != "" {
		c := path.Clean(filepath.ToSlash(b.Context))
		if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
			ps.add(p+".context", "%s must be a subdirectory of the repository (relative, not leaving it)", quoteVal(b.Context))
		}
	}
	if b.Git == "" {
		for _, f := range []struct{ name, v string }{{"ref", b.Ref}, {"deploy_key", b.DeployKey}, {"known_hosts", b.KnownHosts}} {
			if f.v != "" {
				ps.add(p+"."+f.name, "is only used with git")
			}
		}
	}
	if b.Ref != "" && (!gitRefRE.MatchString(b.Ref) || strings.Contains(b.Ref, "..")) {
		ps.add(p+".ref", "%s is not a branch, tag or commit name", quoteVal(b.Ref))
	}
	if b.Dockerfile != "" {
		d := path.Clean(filepath.ToSlash(b.Dockerfile))
		if path.IsAbs(d) || d == ".." || strings.HasPrefix(d, "../") {
			ps.add(p+".dockerfile", "%s must be a path inside the context", quoteVal(b.Dockerfile))
		}
	}
	keys := make([]string, 0, len(b.Args))
	for k := range b.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !envNameRE.MatchString(k) {
			ps.add(p+".args."+k, "%s is not a build argument name ([A-Za-z_][A-Za-z0-9_]*)", quoteVal(k))
		}
		checkText(ps, p+".args."+k, b.Args[k])
	}
	if b.Target != "" && !targetRE.MatchString(b.Target) {
		ps.add(p+".target", "%s is not a build stage name", quoteVal(b.Target))
	}
	seen := map[string]bool{}
	for i, s := range b.Secrets {
		sp := fmt.Sprintf("%s.secrets[%d]", p, i)
		switch {
		case !secretIDRE.MatchString(s.ID):
			ps.add(sp+".id", "%s is not a secret id (1-64 letters, digits, '_', '.', '-')", quoteVal(s.ID))
		case seen[s.ID]:
			ps.add(sp+".id", "%s is listed twice", quoteVal(s.ID))
		}
		seen[s.ID] = true
		if (s.Env == "") == (s.File == "") {
			ps.add(sp, "needs exactly one of env and file (where the value is on the machine running ferry)")
		} else if s.Env != "" && !envNameRE.MatchString(s.Env) {
			ps.add(sp+".env", "%s is not an environment variable name", quoteVal(s.Env))
		}
	}
}

// validate adds r's problems, under field path p ("registry").
func (r *RegistryAuth) validate(ps *problems, p string, image string) {
	if r.Registry != "" && !hostPortRE.MatchString(r.Registry) {
		ps.add(p+".registry", "%s is not a registry host[:port]", quoteVal(r.Registry))
	}
	if r.Registry == "" && ImageRegistry(image) == "" {
		ps.add(p+".registry", "is required when the image names no registry")
	}
	if r.User == "" {
		ps.add(p+".user", "is required")
	} else {
		checkText(ps, p+".user", r.User)
	}
	if (r.PasswordEnv == "") == (r.PasswordFile == "") {
		ps.add(p, "needs exactly one of password_env and password_file (the password itself never goes in the spec)")
	} else if r.PasswordEnv != "" && !envNameRE.MatchString(r.PasswordEnv) {
		ps.add(p+".password_env", "%s is not an environment variable name", quoteVal(r.PasswordEnv))
	}
}

// ImageRegistry returns the registry host[:port] an image reference
// names, or "" for an image of Docker Hub ("nginx", "library/nginx",
// "team/web:1"). As Docker decides, the first path component is a
// registry when it contains a '.' or a ':' or is "localhost".
func ImageRegistry(image string) string {
	first, _, ok := strings.Cut(image, "/")
	if !ok {
		return ""
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return first
	}
	return ""
}

// ImageRepository returns the image reference without its tag and
// digest: "127.0.0.1:5000/team/web" for "127.0.0.1:5000/team/web:1".
func ImageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		image = image[:i]
	}
	return image
}

// resolveContext makes a relative local build context relative to dir.
func (b *Build) resolveContext(dir string) {
	if b.Git == "" && b.Context != "" && !filepath.IsAbs(b.Context) {
		b.Context = filepath.Join(dir, b.Context)
	}
}

// ReusedTag reports whether image's tag is one that names a new image
// from time to time: none (meaning "latest"), "latest", "main" or
// "master". A digest reference ("repo@sha256:...") never is.
func ReusedTag(image string) bool {
	if strings.Contains(image, "@") {
		return false
	}
	repo := ImageRepository(image)
	if len(repo) == len(image) {
		return true
	}
	switch image[len(repo)+1:] {
	case "latest", "main", "master":
		return true
	}
	return false
}

// PullPolicy is the Kubernetes imagePullPolicy ferry sets for image:
// "Always" for a reused tag (see [ReusedTag]), so that new pods run what
// the tag names now, and "" (the cluster's default) otherwise.
func PullPolicy(image string) string {
	if ReusedTag(image) {
		return "Always"
	}
	return ""
}
