package destination

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

// imageBuild is one service's image build, as planned: the build runs
// in [Deploy], before anything running is touched, and the image it
// gives replaces placeholder in the plan's files.
type imageBuild struct {
	service     string
	spec        translate.Build
	repo        string // the repository the image is tagged in
	placeholder string // the image reference in the files until the build
	push        bool   // push to the registry of repo (Swarm, Kubernetes)
	digest      bool   // reference the pushed image by digest (Kubernetes)
}

// placeholderPrefix starts the image reference a built service has in
// the planned files until [Deploy] builds it (.invalid is a reserved
// top-level domain: nothing can pull it by mistake).
const placeholderPrefix = "ferry-build.invalid/"

// BuildError reports a failed image build, push or registry login. It
// wraps the step's error; Lines holds the last lines of its output (at
// most 20), which its message includes.
type BuildError struct {
	// Service is the service whose image was built; empty for a
	// registry login, or the image pull Secret.
	Service string
	// Image is the reference being built or pushed ("docker login
	// <registry>", "image pull secret <name>" when Service is empty).
	Image string
	// Lines are the last output lines of the failed step.
	Lines []string
	Err   error
}

// Error describes the failure with the build's last lines.
func (e *BuildError) Error() string { return "destination: " + e.describe() }

func (e *BuildError) describe() string {
	msg := fmt.Sprintf("image %s of service %s: %v", e.Image, e.Service, describe(e.Err))
	if e.Service == "" {
		msg = fmt.Sprintf("%s: %v", e.Image, describe(e.Err))
	}
	if len(e.Lines) > 0 {
		msg += "\nlast lines of the output:\n  " + strings.Join(e.Lines, "\n  ")
	}
	return msg
}

// Unwrap returns the step's error.
func (e *BuildError) Unwrap() error { return e.Err }

// planBuilds plans s with plan after giving every service that has a
// Build a placeholder image, and records the builds and the registry
// credentials the deploy needs in the plan.
func planBuilds(s *stackPlan, plan func(*stackPlan) (*Plan, error)) (*Plan, error) {
	var builds []*imageBuild
	var auths []authRef
	cp := *s
	cp.order = slices.Clone(s.order)
	st := *s.Stack
	st.Services = slices.Clone(s.Stack.Services)
	cp.Stack = &st
	for i, a := range cp.order {
		if a.Registry != nil {
			auths = append(auths, authRef{service: a.Name, image: a.Image, auth: *a.Registry})
		}
		if a.Build == nil {
			continue
		}
		b := &imageBuild{service: a.Name, spec: *a.Build, repo: translate.ImageRepository(a.Image),
			placeholder: placeholderPrefix + s.Name + "/" + a.Name + ":pending"}
		if b.repo == "" && s.Name == a.Name {
			b.repo = a.Name
		} else if b.repo == "" {
			b.repo = s.Name + "-" + a.Name
		}
		builds = append(builds, b)
		na := *a
		na.Image = b.placeholder
		cp.order[i] = &na
		for j, sv := range st.Services {
			if sv == a {
				st.Services[j] = &na
			}
		}
	}
	if st.Compose != nil && len(builds) > 0 {
		data, err := composeWithBuilds(st.Compose, builds)
		if err != nil {
			return nil, err
		}
		st.Compose = data
	}
	p, err := plan(&cp)
	if err != nil {
		return p, err
	}
	for _, b := range builds {
		if p.Target != "docker" {
			if translate.ImageRegistry(b.repo) == "" {
				return nil, fmt.Errorf("destination: service %s: a %s target pulls built images from a registry: set image to the repository to push to (registry.example.com/team/%s)", b.service, p.Target, b.service)
			}
			b.push = true
			b.digest = p.Target == "kubernetes"
		}
	}
	p.builds, p.auths = builds, auths
	p.Image = cp.image()
	if p.Target != "kubernetes" {
		useAppDockerConfig(p)
	}
	if p.Target == "docker" {
		pullReusedTags(p, cp.order)
	}
	return p, nil
}

// useAppDockerConfig makes the script steps of the plan's pipelines use
// the app's own Docker config directory (the registry logins [Deploy]
// made for it) when there is one.
func useAppDockerConfig(p *Plan) {
	const line = "if [ -d .ferry/docker ]; then export DOCKER_CONFIG=\"$PWD/.ferry/docker\"; fi\n"
	for _, pl := range []*executor.Pipeline{p.Apply, p.Verify, p.Rollback} {
		if pl == nil {
			continue
		}
		for i := range pl.Steps {
			if pl.Steps[i].Script != "" && pl.Steps[i].Dir == "" {
				pl.Steps[i].Script = line + pl.Steps[i].Script
			}
		}
	}
}

// pullReusedTags adds to a Docker plan's Apply a pull of every image
// that is not built and whose tag is reused for new images (none,
// "latest", "main", "master") or that lives in a private registry, so
// that a redeploy runs what the tag names now. An image of no private
// registry that cannot be pulled (one built on the host, which no
// registry has) but that the host has is run as the host has it, with
// a line that says so: a rebuild behind the same tag is then what runs.
func pullReusedTags(p *Plan, order []*translate.App) {
	pulls := map[string]bool{} // image -> must pull (private registry)
	for _, a := range order {
		if strings.HasPrefix(a.Image, placeholderPrefix) {
			continue
		}
		if translate.ReusedTag(a.Image) || a.Registry != nil {
			pulls[a.Image] = pulls[a.Image] || a.Registry != nil
		}
	}
	if len(pulls) == 0 || p.Apply == nil {
		return
	}
	script := "if [ -d .ferry/docker ]; then export DOCKER_CONFIG=\"$PWD/.ferry/docker\"; fi\n"
	for _, img := range sortedKeys(pulls) {
		if pulls[img] {
			script += "docker pull --quiet " + quoted(img) + "\n"
			continue
		}
		script += "pull_or_local " + quoted(img) + "\n"
	}
	if strings.Contains(script, "pull_or_local ") {
		script = pullOrLocalFn + script
	}
	p.Apply.Steps = append([]executor.Step{{Name: "pull images", Script: script}}, p.Apply.Steps...)
}

// pullOrLocalFn pulls an image, or keeps the host's when the pull fails
// and the host has one.
const pullOrLocalFn = `pull_or_local() {
  if out=$(docker pull --quiet "$1" 2>&1); then
    printf '%s\n' "$out"
  elif docker image inspect "$1" >/dev/null 2>&1; then
    echo "$1: not pulled ($(printf '%s' "$out" | tail -n 1)); runs the host's image"
  else
    printf '%s\n' "$out" >&2
    return 1
  fi
}
`

// optionsHash identifies what besides the source decides the image:
// Dockerfile, args, target, subdirectory and secret ids (not values).
func optionsHash(b *translate.Build, withContext bool) string {
	var parts []string
	if b.Dockerfile != "" {
		parts = append(parts, "f="+b.Dockerfile)
	}
	if b.Target != "" {
		parts = append(parts, "t="+b.Target)
	}
	if withContext && b.Context != "" && path.Clean(b.Context) != "." {
		parts = append(parts, "c="+path.Clean(b.Context))
	}
	for k, v := range b.Args {
		parts = append(parts, "a="+k+"="+v)
	}
	for _, s := range b.Secrets {
		parts = append(parts, "s="+s.ID)
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:4])
}

func (b *imageBuild) dockerfile() string {
	if b.spec.Dockerfile == "" {
		return "Dockerfile"
	}
	return path.Clean(b.spec.Dockerfile)
}

// buildFlags are docker build's options for b, quoted for a script.
func (b *imageBuild) buildFlags(secretDir string) string {
	var flags []string
	keys := make([]string, 0, len(b.spec.Args))
	for k := range b.spec.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		flags = append(flags, "--build-arg", k+"="+b.spec.Args[k])
	}
	if b.spec.Target != "" {
		flags = append(flags, "--target", b.spec.Target)
	}
	s := quoted(flags...)
	for _, sec := range b.spec.Secrets {
		s += " --secret " + quoted("id="+sec.ID) + `",src=$PWD/"` + quoted(secretDir+"/"+sec.ID)
	}
	return strings.TrimSpace(s)
}

// tailObserver forwards events and keeps the last output lines.
type tailObserver struct {
	next  executor.Observer
	mu    sync.Mutex
	lines []string
}

func (t *tailObserver) Event(e executor.Event) {
	if e.Kind == executor.Output {
		t.mu.Lock()
		if l := strings.TrimRight(e.Line, "\r\n"); strings.TrimSpace(l) != "" {
			t.lines = append(t.lines, l)
			if len(t.lines) > 20 {
				t.lines = t.lines[len(t.lines)-20:]
			}
		}
		t.mu.Unlock()
	}
	if t.next != nil {
		t.next.Event(e)
	}
}

func (t *tailObserver) tail() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.lines)
}

// runBuildPipeline runs p for the build phase: its events go to the
// deploy's observer, its steps into the report; it returns the result,
// the failed step's name and the last output lines.
func (r *deployment) runBuildPipeline(ctx context.Context, p *executor.Pipeline) (*executor.Result, string, []string, error) {
	tail := &tailObserver{next: r.opts.Observer}
	cp := *p
	cp.Observer = tail
	cp.Secrets = append(slices.Clone(p.Secrets), r.secrets...)
	res, err := r.ex.Run(ctx, &cp)
	r.steps(p, res, err)
	failed := p.Name
	if res != nil {
		for _, s := range res.Steps {
			if s.Err != nil {
				failed = s.Name
				break
			}
		}
	}
	if res == nil && err != nil {
		r.rep.Steps = append(r.rep.Steps, StepReport{Phase: p.Name, Name: p.Name, Start: time.Now(), Status: StatusFailed, Err: err})
	}
	return res, failed, tail.tail(), err
}

// build runs the plan's image builds and registry logins, then puts the
// built images' references into a copy of the plan's files. It returns
// the failed step's name with the error.
func (r *deployment) build(ctx context.Context) (string, error) {
	if len(r.plan.builds) == 0 && len(r.plan.auths) == 0 && len(r.opts.Registries) == 0 {
		return "", nil
	}
	creds, err := r.credentials()
	if err != nil {
		return "registry credentials", err
	}
	// Kubernetes pulls with the image pull Secret: the kubectl host logs
	// in only to push what it builds.
	if r.plan.kube == nil || len(r.plan.builds) > 0 {
		if step, err := r.login(ctx, creds); err != nil {
			return step, err
		}
	}
	if step, err := r.pullSecret(ctx, creds); err != nil {
		return step, err
	}
	images := map[string]string{}
	for _, b := range r.plan.builds {
		ref, step, err := r.buildImage(ctx, b)
		if err != nil {
			return step, err
		}
		images[b.placeholder] = ref
	}
	r.substitute(images)
	return "", nil
}

// substitute replaces the placeholders in a copy of the plan.
func (r *deployment) substitute(images map[string]string) {
	if len(images) == 0 {
		return
	}
	p := *r.plan
	p.Files = slices.Clone(p.Files)
	pairs := make([]string, 0, 2*len(images))
	for ph, ref := range images {
		pairs = append(pairs, ph, ref)
	}
	rep := strings.NewReplacer(pairs...)
	for i, f := range p.Files {
		f.Data = []byte(rep.Replace(string(f.Data)))
		p.Files[i] = f
	}
	p.Image = rep.Replace(p.Image)
	rel := make([]translate.File, len(p.Files))
	for i, f := range p.Files {
		rel[i] = f
		rel[i].Path = strings.TrimPrefix(strings.TrimPrefix(f.Path, p.Dir), "/")
	}
	p.Version = version(rel)
	r.plan = &p
	r.rep.Version = p.Version
}

// buildImage resolves b's source, builds the image unless an image of
// that source exists, pushes it when the target pulls from a registry,
// and returns the reference to deploy.
func (r *deployment) buildImage(ctx context.Context, b *imageBuild) (ref, step string, err error) {
	fail := func(step, image string, lines []string, err error) (string, string, error) {
		return "", step, &BuildError{Service: b.service, Image: image, Lines: lines, Err: err}
	}
	var tag, commit string
	var local *buildContext
	if b.spec.Git == "" {
		if local, err = newBuildContext(b.spec.Context, b.dockerfile()); err != nil {
			return fail("hash build context", b.repo, nil, err)
		}
		sum, err := local.hash(optionsHash(&b.spec, false))
		if err != nil {
			return fail("hash build context", b.repo, nil, err)
		}
		tag = "ctx-" + sum[:16]
	} else {
		var lines []string
		commit, step, lines, err = r.fetchGit(ctx, b)
		if err != nil {
			return fail(step, b.repo, lines, err)
		}
		tag = "git-" + commit[:12]
		if o := optionsHash(&b.spec, true); o != "" {
			tag += "-" + o
		}
	}
	ref = b.repo + ":" + tag
	env := []string{"FERRY_IMAGE=" + ref, "FERRY_REPO=" + b.repo, "FERRY_SERVICE=" + b.service, "FERRY_COMMIT=" + commit}
	check := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Env: env, Steps: []executor.Step{
		{Name: "docker engine for builds", Script: engineScript},
		{Name: "image " + ref + " exists", Script: dockerConfigLine + existsScript, Save: "exists"},
	}}
	res, step, lines, err := r.runBuildPipeline(ctx, check)
	if err != nil {
		return fail(step, ref, lines, err)
	}
	if res.Saved["exists"] != "yes" {
		if step, lines, err := r.runBuild(ctx, b, ref, env, local); err != nil {
			return fail(step, ref, lines, err)
		}
	}
	if !b.push {
		return ref, "", nil
	}
	push := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Env: env, Steps: []executor.Step{
		{Name: "push " + ref, Script: dockerConfigLine + pushScript, Save: "digest"},
	}}
	res, step, lines, err = r.runBuildPipeline(ctx, push)
	if err != nil {
		return fail(step, ref, lines, registryError(err, lines, b.repo))
	}
	if b.digest {
		d := res.Saved["digest"]
		if !strings.HasPrefix(d, b.repo+"@sha256:") {
			return fail("push "+ref, ref, lines, fmt.Errorf("no digest of %s after the push (got %q)", b.repo, d))
		}
		return d, "", nil
	}
	return ref, "", nil
}

// runBuild builds ref on the host: from the local context streamed as
// a tar archive on the step's standard input, or from the fetched
// commit.
func (r *deployment) runBuild(ctx context.Context, b *imageBuild, ref string, env []string, local *buildContext) (string, []string, error) {
	secretDir := ".ferry/build/" + b.service + "/secrets"
	var secrets []string
	if len(b.spec.Secrets) > 0 {
		mk := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Steps: []executor.Step{
			{Name: "build secrets directory", Script: "umask 077\nmkdir -p " + quoted(secretDir) + "\n"},
		}}
		if _, step, lines, err := r.runBuildPipeline(ctx, mk); err != nil {
			return step, lines, err
		}
		for _, s := range b.spec.Secrets {
			v, err := readRef(s.Env, s.File)
			if err != nil {
				return "build secret " + s.ID, nil, fmt.Errorf("build secret %s: %w", s.ID, err)
			}
			secrets = append(secrets, v)
			r.secrets = append(r.secrets, v)
			if err := r.ex.WriteFile(ctx, path.Join(r.plan.Dir, secretDir, s.ID), []byte(v), 0o600); err != nil {
				return "build secret " + s.ID, nil, err
			}
		}
	}
	var buildkit string
	if len(secrets) > 0 {
		buildkit = "export DOCKER_BUILDKIT=1\n"
	}
	cleanup := "trap 'rm -rf " + quoted(secretDir) + "' EXIT\n"
	step := executor.Step{Name: "build " + ref, Env: env}
	if local != nil {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(local.writeTar(pw)) }()
		defer pr.CloseWithError(errors.New("build ended"))
		step.Stdin = pr
		step.Script = dockerConfigLine + buildkit + cleanup + "docker build --tag \"$FERRY_IMAGE\" --file " + quoted(b.dockerfile()) + " " + b.buildFlags(secretDir) + " -\n"
	} else {
		sub := path.Clean("./" + b.spec.Context)
		step.Script = dockerConfigLine + buildkit + cleanup + gitCheckoutScript +
			"ctx=\"$src\"/" + quoted(sub) + "\n" +
			"docker build --tag \"$FERRY_IMAGE\" --file \"$ctx\"/" + quoted(b.dockerfile()) + " " + b.buildFlags(secretDir) + " \"$ctx\"\n"
	}
	p := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Secrets: secrets, Steps: []executor.Step{step}}
	_, name, lines, err := r.runBuildPipeline(ctx, p)
	return name, lines, err
}

// fetchGit fetches b's ref on the host into the service's clone and
// returns the commit. A deploy key and known_hosts file are copied into
// the app's state directory first.
func (r *deployment) fetchGit(ctx context.Context, b *imageBuild) (commit, step string, lines []string, err error) {
	env := []string{"FERRY_SERVICE=" + b.service, "FERRY_GIT_URL=" + b.spec.Git, "FERRY_GIT_REF=" + b.spec.Ref}
	if env[2] == "FERRY_GIT_REF=" {
		env[2] = "FERRY_GIT_REF=HEAD"
	}
	for _, f := range []struct{ local, remote, flag string }{
		{b.spec.DeployKey, ".ferry/build/" + b.service + "/git-key", "FERRY_GIT_KEY=1"},
		{b.spec.KnownHosts, ".ferry/build/" + b.service + "/git-known-hosts", "FERRY_GIT_KNOWN=1"},
	} {
		if f.local == "" {
			continue
		}
		data, err := readLocalFile(f.local)
		if err != nil {
			return "", "copy " + f.local, nil, err
		}
		mk := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Steps: []executor.Step{
			{Name: "git directory", Script: "umask 077\nmkdir -p " + quoted(path.Dir(f.remote)) + "\n"},
		}}
		if _, step, lines, err := r.runBuildPipeline(ctx, mk); err != nil {
			return "", step, lines, err
		}
		if err := r.ex.WriteFile(ctx, path.Join(r.plan.Dir, f.remote), data, 0o600); err != nil {
			return "", "copy " + f.local, nil, err
		}
		env = append(env, f.flag)
	}
	p := &executor.Pipeline{Name: "build", Dir: r.plan.Dir, Env: env, Steps: []executor.Step{
		{Name: "git fetch " + b.spec.Git + " " + strings.TrimPrefix(env[2], "FERRY_GIT_REF="), Script: gitFetchScript, Save: "commit"},
	}}
	res, step, lines, err := r.runBuildPipeline(ctx, p)
	if err != nil {
		return "", step, lines, err
	}
	commit = res.Saved["commit"]
	if len(commit) < 12 || strings.Trim(commit, "0123456789abcdef") != "" {
		return "", step, lines, fmt.Errorf("git fetch gave no commit (got %q)", commit)
	}
	return commit, "", nil, nil
}

// dockerConfigLine makes docker use the app's own config directory
// (its registry logins) when there is one.
const dockerConfigLine = "if [ -d .ferry/docker ]; then export DOCKER_CONFIG=\"$PWD/.ferry/docker\"; fi\n"

const engineScript = `if ! out=$(docker version --format '{{.Server.Version}}' 2>&1); then
  echo "images are built on this host, and it has no reachable Docker engine: $out" >&2
  exit 1
fi
echo "docker engine $out"
`

const existsScript = `if docker image inspect --format '{{.Id}}' "$FERRY_IMAGE" >/dev/null 2>&1; then
  echo yes
  echo "image $FERRY_IMAGE exists: not rebuilt" >&2
else
  echo no
fi
`

const pushScript = `docker push "$FERRY_IMAGE" >&2
docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$FERRY_IMAGE" | grep -F "$FERRY_REPO@" | head -n 1
`

// gitFetchScript fetches $FERRY_GIT_REF of $FERRY_GIT_URL into the
// service's clone and prints the commit. Over SSH, a host key is learned
// on first use and checked afterwards, unless a known_hosts file was
// given; the deploy key, if any, is a file (never an argument).
const gitFetchScript = `dir="$PWD/.ferry/build/$FERRY_SERVICE"
src="$dir/src"
mkdir -p "$src"
opts="-o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=\"$dir/known_hosts\""
if [ "${FERRY_GIT_KNOWN:-}" = 1 ]; then
  opts="-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=\"$dir/git-known-hosts\""
fi
if [ "${FERRY_GIT_KEY:-}" = 1 ]; then
  opts="$opts -o IdentitiesOnly=yes -o IdentityFile=\"$dir/git-key\""
fi
export GIT_SSH_COMMAND="ssh $opts" GIT_TERMINAL_PROMPT=0
if [ ! -d "$src/.git" ]; then git init -q "$src" >&2; fi
if git -C "$src" fetch --quiet --force --no-tags -- "$FERRY_GIT_URL" "$FERRY_GIT_REF" >&2; then
  git -C "$src" rev-parse --verify 'FETCH_HEAD^{commit}'
  exit 0
fi
# A server may refuse a commit asked for by its hash: fetch its branches
# and tags, and look for the commit there.
case "$FERRY_GIT_REF" in
  *[!0-9a-f]*|"") exit 1 ;;
esac
echo "fetching all branches and tags to find commit $FERRY_GIT_REF" >&2
git -C "$src" fetch --quiet --force --no-tags -- "$FERRY_GIT_URL" '+refs/heads/*:refs/ferry/heads/*' '+refs/tags/*:refs/ferry/tags/*' >&2
git -C "$src" rev-parse --verify "$FERRY_GIT_REF^{commit}"
`

// gitCheckoutScript checks out the fetched commit $FERRY_COMMIT.
const gitCheckoutScript = `src="$PWD/.ferry/build/$FERRY_SERVICE/src"
git -C "$src" checkout --quiet --force --detach "$FERRY_COMMIT"
git -C "$src" clean --quiet -ffdx
`

// writeBuilds prints the plan's image builds for the dry run.
func writeBuilds(b *strings.Builder, builds []*imageBuild) {
	if len(builds) == 0 {
		return
	}
	fmt.Fprintf(b, "build (before anything live changes):\n")
	for _, ib := range builds {
		src := "context " + ib.spec.Context + " (uploaded, .dockerignore honoured), tagged ctx-<content hash>"
		if ib.spec.Git != "" {
			ref := ib.spec.Ref
			if ref == "" {
				ref = "HEAD"
			}
			src = "git " + ib.spec.Git + " " + ref + " (fetched by the host), tagged git-<commit>"
		}
		fmt.Fprintf(b, "  %s: %s:<tag> from %s; dockerfile %s\n", ib.service, ib.repo, src, ib.dockerfile())
		if ib.push {
			how := "by tag"
			if ib.digest {
				how = "by digest"
			}
			fmt.Fprintf(b, "    pushed, then deployed %s; in the files until then: %s\n", how, ib.placeholder)
		}
	}
}

// composeWithBuilds rewrites a compose project (a stack loaded from a
// compose file, deployed as it is) so that each built service names its
// placeholder image and has no build: section: ferry builds it, not
// Compose on the host, which has no copy of the context.
func composeWithBuilds(data []byte, builds []*imageBuild) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) != 1 {
		return nil, fmt.Errorf("destination: reading the compose project: %v", err)
	}
	services := mapGet(doc.Content[0], "services")
	for _, b := range builds {
		svc := mapGet(services, b.service)
		if svc == nil {
			return nil, fmt.Errorf("destination: the compose project has no service %s", b.service)
		}
		mapDelete(svc, "build")
		if img := mapGet(svc, "image"); img != nil {
			img.SetString(b.placeholder)
		} else {
			svc.Content = append(svc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "image"}, &yaml.Node{Kind: yaml.ScalarNode, Value: b.placeholder})
		}
	}
	return encodeYAML(doc.Content[0])
}
