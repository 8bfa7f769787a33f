package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

func TestRegistryMissing(t *testing.T) {
	t.Setenv("FERRY_REGISTRY", "")
	t.Setenv("FERRY_REQUIRE_REGISTRY", "1")
	r := &recorder{TB: t}
	Registry(r)
	if r.failed == "" {
		t.Errorf("no FERRY_REGISTRY under FERRY_REQUIRE_REGISTRY=1: want a failure")
	}
	t.Setenv("FERRY_REQUIRE_REGISTRY", "")
	r = &recorder{TB: t}
	Registry(r)
	if r.skipped == "" {
		t.Errorf("no FERRY_REGISTRY: want a skip")
	}
}

func TestRegistryWrongPassword(t *testing.T) {
	reg := Registry(t)
	reg.Password += "x"
	if err := reg.check(); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("check with a wrong password = %v, want a 401", err)
	}
}

func TestGitRepo(t *testing.T) {
	dir, hashes := GitRepo(t, map[string]string{"a.txt": "one"}, map[string]string{"a.txt": "two", "b/c.txt": "three"})
	if len(hashes) != 2 || hashes[0] == hashes[1] {
		t.Fatalf("hashes = %q", hashes)
	}
	out, err := exec.Command("git", "--git-dir", dir, "show", "main:a.txt").CombinedOutput()
	if err != nil || string(out) != "two" {
		t.Errorf("main:a.txt = %q, %v; want \"two\"", out, err)
	}
	out, err = exec.Command("git", "--git-dir", dir, "show", hashes[0]+":a.txt").CombinedOutput()
	if err != nil || string(out) != "one" {
		t.Errorf("first commit's a.txt = %q, %v; want \"one\"", out, err)
	}
}
