package destination_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// dockerfile builds on the local test image (no pull) and changes its
// message, so each build is told apart over HTTP.
func dockerfile(message string) string {
	return "FROM " + testenv.WebappV1 + "\nENV MESSAGE=\"" + message + "\"\nCOPY keep.txt /keep.txt\n"
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// built reports whether the deploy ran an image build step.
func built(rep *destination.Report) bool {
	for _, s := range rep.Steps {
		if s.Phase == "build" && strings.HasPrefix(s.Name, "build ") {
			return true
		}
	}
	return false
}

// removeImages removes the references of repo (tags, and digests of
// untagged pulls) when the test ends, after removing the containers of
// compose project project (if not empty), which may still use them.
// It removes references, never image IDs: an image pulled from the test
// registry may be the very image of another tag (ferry-webapp:v1), which
// must stay.
func removeImages(t *testing.T, repo, project string) {
	t.Cleanup(func() {
		if project != "" {
			cs, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project).Output()
			if ids := strings.Fields(string(cs)); len(ids) > 0 {
				exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
			}
		}
		out, _ := exec.Command("docker", "image", "ls", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", repo).Output()
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != repo {
				continue
			}
			if f[1] != "<none>" {
				// A removed Swarm stack's containers linger a few seconds.
				for i := 0; i < 10 && exec.Command("docker", "image", "rm", f[0]+":"+f[1]).Run() != nil; i++ {
					time.Sleep(time.Second)
				}
			}
			if f[2] != "<none>" {
				exec.Command("docker", "image", "rm", f[0]+"@"+f[2]).Run()
			}
		}
	})
}

// TestBuildLocalContext deploys an app built from a local directory over
// real sshd to Docker: the build streams its output as events; a
// redeploy of the same content neither builds nor restarts; changed
// content rolls out under a new tag; a broken Dockerfile fails in the
// build phase with its last lines, and the running app is untouched.
func TestBuildLocalContext(t *testing.T) {
	e := newDockerEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": dockerfile("built one"), "keep.txt": "k", ".dockerignore": "junk/\n",
		"junk/big.bin": strings.Repeat("x", 1<<20),
	})
	app := e.app("", nil)
	app.Name = e.project
	app.Build = &translate.Build{Context: dir}
	removeImages(t, e.project, e.project)

	rec := &recorder{}
	rep, err := e.deploy(app, &destination.Options{Observer: rec})
	if err != nil {
		t.Fatalf("first deploy: %v\n%s", err, rep)
	}
	if got := e.get(); got != "built one" {
		t.Errorf("GET / = %q, want \"built one\"", got)
	}
	if !built(rep) || rec.count(executor.Output, "build") == 0 {
		t.Errorf("first deploy: no build step or no build output events\n%s", rep)
	}
	if !strings.Contains(e.history(app)[0].Image, e.project+":ctx-") {
		t.Errorf("history image = %q, want the content tag %s:ctx-...", e.history(app)[0].Image, e.project)
	}
	first := e.containers()

	// Same content: no build, no restart.
	firstTime := rep.Duration
	rep = e.mustDeploy(app)
	t.Logf("first deploy with its build: %s; unchanged redeploy: %s (%.2fx)", firstTime.Round(time.Millisecond), rep.Duration.Round(time.Millisecond), float64(rep.Duration)/float64(firstTime))
	if built(rep) {
		t.Errorf("redeploy of unchanged content built again\n%s", rep)
	}
	if got := e.containers(); strings.Join(got, ",") != strings.Join(first, ",") {
		t.Errorf("redeploy of unchanged content replaced the container: %v -> %v", first, got)
	}
	// A change to an ignored file is no change either.
	writeFiles(t, dir, map[string]string{"junk/big.bin": "other"})
	if rep = e.mustDeploy(app); built(rep) {
		t.Errorf("a change to an ignored file rebuilt the image")
	}

	// New content: new image, new container.
	writeFiles(t, dir, map[string]string{"Dockerfile": dockerfile("built two")})
	rep = e.mustDeploy(app)
	if !built(rep) || e.get() != "built two" {
		t.Errorf("changed content: built=%v, GET / = %q", built(rep), e.get())
	}
	second := e.containers()
	if strings.Join(second, ",") == strings.Join(first, ",") {
		t.Errorf("changed content did not replace the container")
	}

	// Broken Dockerfile: fails in the build phase, nothing touched.
	writeFiles(t, dir, map[string]string{"Dockerfile": dockerfile("broken") + "COPY no-such-file /x\n"})
	rep, err = e.deploy(app, nil)
	var de *destination.Error
	var be *destination.BuildError
	if !errors.As(err, &de) || !errors.As(err, &be) {
		t.Fatalf("broken Dockerfile: err = %v, want *destination.Error wrapping *destination.BuildError\n%s", err, rep)
	}
	t.Logf("broken build: %v", err)
	if de.Phase != "build" || rep.Outcome != destination.OutcomeFailed {
		t.Errorf("broken build: phase %q outcome %s, want build/failed", de.Phase, rep.Outcome)
	}
	if !strings.Contains(err.Error(), "no-such-file") || !strings.Contains(rep.String(), "no-such-file") {
		t.Errorf("the error and report lack the build's last lines:\n%v\n%s", err, rep)
	}
	if got := e.containers(); strings.Join(got, ",") != strings.Join(second, ",") || e.get() != "built two" {
		t.Errorf("a failed build touched the running app: %v -> %v", second, got)
	}
	h := e.history(app)
	if last := h[len(h)-1]; last.Outcome != destination.OutcomeFailed || !strings.Contains(last.Error, "no-such-file") {
		t.Errorf("history of the failed build: %+v", last)
	}
}

// TestBuildGit deploys an app the host builds from a git repository it
// fetches over SSH with a deploy key: the same commit again is a no-op,
// a new commit on the branch rolls out.
func TestBuildGit(t *testing.T) {
	e := newDockerEnv(t)
	repo, commits := testenv.GitRepo(t,
		map[string]string{"svc/Dockerfile": dockerfile("from git one"), "svc/keep.txt": "k"},
		map[string]string{"svc/Dockerfile": dockerfile("from git two")})
	// The repository is served by a second sshd that only the deploy key
	// opens; known_hosts is learned on first use.
	gitHost := startGitSSHD(t)
	app := e.app("", nil)
	app.Name = e.project
	app.Build = &translate.Build{Git: "ssh://" + gitHost.User + "@" + gitHost.Addr + repo, Ref: commits[0], Context: "svc", DeployKey: gitHost.KeyFile}
	removeImages(t, e.project, e.project)

	rep := e.mustDeploy(app)
	if e.get() != "from git one" || !built(rep) {
		t.Fatalf("first commit: GET / = %q, built=%v", e.get(), built(rep))
	}
	if img := e.history(app)[0].Image; !strings.Contains(img, ":git-"+commits[0][:12]+"-") {
		t.Errorf("image %q is not tagged with the commit %s", img, commits[0][:12])
	}
	first := e.containers()
	if rep = e.mustDeploy(app); built(rep) || strings.Join(e.containers(), ",") != strings.Join(first, ",") {
		t.Errorf("redeploy of the same commit: built=%v, containers %v -> %v", built(rep), first, e.containers())
	}
	app.Build.Ref = "main"
	if rep = e.mustDeploy(app); !built(rep) || e.get() != "from git two" {
		t.Errorf("new commit: built=%v GET / = %q", built(rep), e.get())
	}
	// The deploy key never travelled on a command line: it is a file.
	plan, _ := e.target.Plan(app)
	if fi, err := os.Stat(filepath.Join(plan.Dir, ".ferry", "build", e.project, "git-key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("deploy key on the host: %v %v", fi, err)
	}
}

// startGitSSHD starts a second sshd that serves git repositories of this
// machine to the deploy host, for the test's own key only.
func startGitSSHD(t *testing.T) *sshdtest.Server {
	t.Helper()
	testenv.Git(t)
	return sshdtest.Start(t, sshdtest.Options{})
}

// TestBuildNoEngine checks that a host without a reachable Docker engine
// (here: DOCKER_HOST pointing nowhere) fails the build phase at once with
// an error that says so, before anything changes.
func TestBuildNoEngine(t *testing.T) {
	testenv.Docker(t)
	ex := withEnv{Executor: dialSSHD(t), env: []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
	plan, err := destination.Kubernetes{Dir: t.TempDir()}.Plan(&translate.App{Name: "web", Image: "127.0.0.1:1/web", Build: &translate.Build{Context: dir}})
	if err != nil {
		t.Fatal(err)
	}
	plan.Check = nil // no cluster needed: the build phase comes first
	rep, err := destination.Deploy(context.Background(), ex, plan, nil)
	var de *destination.Error
	if !errors.As(err, &de) || de.Phase != "build" || !strings.Contains(err.Error(), "no reachable Docker engine") {
		t.Fatalf("err = %v, want a build-phase error saying there is no Docker engine\n%s", err, rep)
	}
}
