package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/sshdtest"
)

// TestFanout builds the command and runs it against four real sshd on
// 127.0.0.2-5, plus entries that must fail on their own.
func TestFanout(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fanout")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var servers []*sshdtest.Server
	var kh, list strings.Builder
	for i := 0; i < 4; i++ {
		s := sshdtest.Start(t, sshdtest.Options{Host: fmt.Sprintf("127.0.0.%d", i+2)})
		servers = append(servers, s)
		for _, k := range s.HostKeys {
			kh.WriteString(sshdtest.KnownHostsLine(s.Addr, k))
		}
		fmt.Fprintf(&list, "%s@%s\n", s.User, s.Addr)
	}
	khFile := filepath.Join(dir, "known_hosts")
	os.WriteFile(khFile, []byte(kh.String()), 0o600)
	hostsFile := filepath.Join(dir, "hosts")
	os.WriteFile(hostsFile, []byte("# the fleet\n\n"+list.String()), 0o600)

	fanout := func(hosts string, argv ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"-i", servers[0].KeyFile, "-known-hosts", khFile, "-limit", "3", "-hosts", hosts, "--"}, argv...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}

	code, out := fanout(hostsFile, "sh", "-c", "set -- $SSH_CONNECTION; echo on $3")
	t.Logf("\n%s", out)
	if code != 0 || !strings.Contains(out, "4 hosts: 4 ok, 0 failed") {
		t.Fatalf("exit %d", code)
	}
	for _, s := range servers {
		host, _, _ := net.SplitHostPort(s.Addr)
		if !strings.Contains(out, s.Addr+"\tok\t") || !strings.Contains(out, "on "+host+"\n") {
			t.Errorf("no ok line for %s", s.Addr)
		}
	}

	// A failing command on one host, a duplicate, an unknown host key and
	// a closed port: those fail, the others do not.
	closed, _ := net.Listen("tcp", "127.0.0.9:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	unknownKey := sshdtest.Start(t, sshdtest.Options{Host: "127.0.0.6"})
	bad := filepath.Join(dir, "hosts-bad")
	os.WriteFile(bad, []byte(list.String()+servers[0].User+"@"+servers[0].Addr+"\n"+closedAddr+"\n"+unknownKey.Addr+"\n"), 0o600)
	code, out = fanout(bad, "sh", "-c", "case $SSH_CONNECTION in *' 127.0.0.3 '*) echo broken >&2; exit 3;; esac; echo fine")
	t.Logf("\n%s", out)
	if code != 1 || !strings.Contains(out, "7 hosts: 3 ok, 4 failed") {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"exit status 3: broken", "duplicate", "connection refused", "unknown host"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code, _ := fanout(filepath.Join(dir, "absent")); code != 2 {
		t.Errorf("missing hosts file: exit %d", code)
	}
}
