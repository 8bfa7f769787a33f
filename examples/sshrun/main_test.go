package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
)

func TestSSHRun(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	base := []string{"-i", s.KeyFile, "-known-hosts", s.KnownHosts, "-p", strconv.Itoa(s.Port), "-n"}
	target := s.User + "@" + s.Host
	sh := func(extra []string, argv ...string) (int, string, string) {
		var out, errb bytes.Buffer
		args := append(append(append([]string{}, base...), extra...), target, "--")
		code := run(append(args, argv...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	// Every argument arrives exactly as given.
	weird := []string{"a b", "it's", "$HOME", "`id`", "*", "x\ny", ""}
	code, out, errs := sh(nil, append([]string{"printf", "[%s]"}, weird...)...)
	if code != 0 || out != "[a b][it's][$HOME][`id`][*][x\ny][]" {
		t.Fatalf("code %d out %q err %q", code, out, errs)
	}
	if code, _, errs = sh(nil, "sh", "-c", "echo e >&2; exit 42"); code != 42 || errs != "e\n" {
		t.Fatalf("exit: %d %q", code, errs)
	}
	if code, _, _ = sh(nil, "sh", "-c", "kill -TERM $$"); code != 128+15 {
		t.Fatalf("signal: %d", code)
	}
	start := time.Now()
	code, _, errs = sh([]string{"-timeout", "1s"}, "sleep", "60")
	if code != 255 || !strings.Contains(errs, "timed out") || time.Since(start) > 15*time.Second {
		t.Fatalf("timeout: %d %q after %v", code, errs, time.Since(start))
	}

	// An unknown host key is refused with exit 255 and says so.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	var out2, err2 bytes.Buffer
	code = run([]string{"-i", s.KeyFile, "-known-hosts", empty, "-p", strconv.Itoa(s.Port), "-n", target, "--", "true"}, nil, &out2, &err2)
	if code != 255 || !strings.Contains(strings.ToLower(err2.String()), "unknown") {
		t.Fatalf("unknown host: %d %q", code, err2.String())
	}
	// A closed port is exit 255 with a clear message.
	code = run([]string{"-i", s.KeyFile, "-known-hosts", s.KnownHosts, "-p", "1", "-n", target, "--", "true"}, nil, &out2, &err2)
	if code != 255 || !strings.Contains(err2.String(), "refused") {
		t.Fatalf("closed port: %d %q", code, err2.String())
	}
}
