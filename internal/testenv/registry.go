package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RegistryPeer is the test container registry started by .ci/registry-up:
// the Distribution registry on loopback, plain HTTP (the Docker engine
// trusts 127.0.0.0/8 registries without TLS), with htpasswd
// authentication.
type RegistryPeer struct {
	// Addr is host:port, the prefix of image references pushed there
	// ("127.0.0.1:5055/team/web:1").
	Addr string
	// User and Password are the one account the registry accepts.
	User, Password string
}

// Registry returns the test registry, from FERRY_REGISTRY,
// FERRY_REGISTRY_TEST_USER and FERRY_REGISTRY_TEST_PASSWORD, after checking that it
// answers and asks for credentials (401 on /v2/ without them, 200 with
// them). Without it the test is skipped, or fails under
// FERRY_REQUIRE_REGISTRY=1. Tests share the registry: push under a
// repository name of the test's own (see [Namespace] for how to make one).
func Registry(tb testing.TB) RegistryPeer {
	tb.Helper()
	const how = "run .ci/run (or .ci/registry-up and export what it prints)"
	r := RegistryPeer{Addr: os.Getenv("FERRY_REGISTRY"), User: os.Getenv("FERRY_REGISTRY_TEST_USER"), Password: os.Getenv("FERRY_REGISTRY_TEST_PASSWORD")}
	if r.Addr == "" || r.User == "" || r.Password == "" {
		Require(tb, "FERRY_REQUIRE_REGISTRY", "registry: FERRY_REGISTRY, FERRY_REGISTRY_TEST_USER or FERRY_REGISTRY_TEST_PASSWORD is not set", how)
		return r
	}
	if err := r.check(); err != nil {
		Require(tb, "FERRY_REQUIRE_REGISTRY", "registry: "+err.Error(), how)
	}
	return r
}

func (r RegistryPeer) check() error {
	c := &http.Client{Timeout: 10 * time.Second}
	for _, auth := range []bool{false, true} {
		req, err := http.NewRequest(http.MethodGet, "http://"+r.Addr+"/v2/", nil)
		if err != nil {
			return err
		}
		want := http.StatusUnauthorized
		if auth {
			req.SetBasicAuth(r.User, r.Password)
			want = http.StatusOK
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("GET http://%s/v2/ (credentials: %v): %s, want %d", r.Addr, auth, resp.Status, want)
		}
	}
	return nil
}

// Git checks that the git program is installed, for tests that serve a
// repository to a host. Without it the test is skipped, or fails under
// FERRY_REQUIRE_GIT=1.
func Git(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		Require(tb, "FERRY_REQUIRE_GIT", "git not found: "+err.Error(), "apt-get install git, or run .ci/run")
	}
}

// GitRepo creates a bare git repository in a temporary directory with
// one commit per element of commits, in order, each setting the files it
// maps (path to content; an empty content deletes the file) on top of the
// previous one, on branch "main". It returns the repository's directory
// and the commits' full hashes. Serve it to a host by its path (over the
// test sshd, "ssh://user@host:port/dir") or with git daemon. It calls
// [Git] first.
func GitRepo(tb testing.TB, commits ...map[string]string) (dir string, hashes []string) {
	tb.Helper()
	Git(tb)
	root := tb.TempDir()
	work, dir := filepath.Join(root, "work"), filepath.Join(root, "repo.git")
	git := func(args ...string) string {
		tb.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=ferry test", "GIT_AUTHOR_EMAIL=test@ferry.invalid",
			"GIT_COMMITTER_NAME=ferry test", "GIT_COMMITTER_EMAIL=test@ferry.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			tb.Fatalf("testenv: git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		tb.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	for i, files := range commits {
		for name, content := range files {
			p := filepath.Join(work, filepath.FromSlash(name))
			if content == "" {
				os.Remove(p)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		git("add", "-A")
		git("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("commit %d", i+1))
		hashes = append(hashes, git("rev-parse", "HEAD"))
	}
	cmd := exec.Command("git", "clone", "-q", "--bare", work, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testenv: git clone --bare: %v\n%s", err, out)
	}
	return dir, hashes
}
