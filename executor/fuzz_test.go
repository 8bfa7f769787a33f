package executor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/sshdtest"
)

// FuzzArgvOverSSH sends arbitrary argv through a real OpenSSH sshd and
// checks that every argument arrives unchanged.
func FuzzArgvOverSSH(f *testing.F) {
	for _, s := range []string{"", "x", "'", `"`, `\`, "$(id)", "`id`", "a\nb", "\xff", "*", "~root", "-e", "%s", "'\\''", "\r", "é"} {
		f.Add(s, "second")
	}
	c, _ := dialSSHD(f, sshdtest.Options{})
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.IndexByte(a, 0) >= 0 || strings.IndexByte(b, 0) >= 0 {
			// argv cannot carry NUL: it must be refused, not mangled.
			if err := c.Command("true", a, b).Run(context.Background()); err == nil {
				t.Fatal("NUL byte in argv was not refused")
			}
			return
		}
		out, err := c.Command("printf", `%s\0`, a, b).Output(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := a + "\x00" + b + "\x00"; string(out) != want {
			t.Fatalf("got %q, want %q", out, want)
		}
	})
}
