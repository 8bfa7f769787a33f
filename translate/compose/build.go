package compose

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/translate"
)

// build maps the service's build: section to [translate.Build], which
// ferry's destinations build on the host: a local context (compose-go
// makes it absolute) or a git URL with an optional "#ref:subdir".
// What has no equivalent (inline Dockerfiles, build secrets, SSH, extra
// contexts, args taken from the environment) is left out with a warning.
func (s *svcMap) build() {
	b := s.svc.Build
	out := &translate.Build{Dockerfile: b.Dockerfile, Target: b.Target}
	if isGitContext(b.Context) {
		url, frag, _ := strings.Cut(b.Context, "#")
		out.Git = url
		out.Ref, out.Context, _ = strings.Cut(frag, ":")
	} else {
		out.Context = b.Context
		if filepath.IsAbs(out.Dockerfile) {
			if rel, err := filepath.Rel(b.Context, out.Dockerfile); err == nil && !strings.HasPrefix(rel, "..") {
				out.Dockerfile = filepath.ToSlash(rel)
			}
		}
	}
	keys := make([]string, 0, len(b.Args))
	for k := range b.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := b.Args[k]; v != nil {
			if out.Args == nil {
				out.Args = map[string]string{}
			}
			out.Args[k] = *v
		} else {
			s.warn([]string{"build", "args", k}, "a build argument without a value (taken from the environment) is left out")
		}
	}
	for _, unsupported := range []struct {
		key string
		set bool
	}{
		{"dockerfile_inline", b.DockerfileInline != ""},
		{"secrets", len(b.Secrets) > 0},
		{"ssh", len(b.SSH) > 0},
		{"additional_contexts", len(b.AdditionalContexts) > 0},
	} {
		if unsupported.set {
			s.warn([]string{"build", unsupported.key}, "not supported by ferry's builds: left out")
		}
	}
	s.app.Build = out
}

// isGitContext tells a remote git build context from a local directory,
// as Compose does.
func isGitContext(c string) bool {
	for _, p := range []string{"https://", "http://", "git://", "ssh://", "git@"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}
