package sshdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BusyboxPath is where busybox is looked for.
var BusyboxPath = "/usr/bin/busybox"

// BusyboxDir returns a directory of links to busybox, one per applet
// named (for example "head", "cat"), for putting first on a PATH: a
// session whose PATH starts with it behaves as on a busybox host. It skips
// the test when busybox is not installed (fails when [Required]).
func BusyboxDir(tb testing.TB, applets ...string) string {
	tb.Helper()
	bb, err := exec.LookPath(BusyboxPath)
	if err != nil {
		if Required() {
			tb.Fatalf("sshdtest: busybox not found and FERRY_REQUIRE_SSHD=1")
		}
		tb.Skip("sshdtest: busybox not found; install busybox or run .ci/run")
	}
	dir := tb.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink(bb, filepath.Join(dir, a)); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// SetPath returns the sshd_config line that gives every session the PATH
// dirs (joined with ':'), for [Options.Config].
func SetPath(dirs ...string) string {
	p := ""
	for i, d := range dirs {
		if i > 0 {
			p += ":"
		}
		p += d
	}
	return "SetEnv PATH=" + p
}
