package shquote

import (
	"os/exec"
	"strings"
	"testing"
)

// roundTrip runs printf through the local /bin/sh and checks that every
// word arrives unchanged.
func roundTrip(t *testing.T, words []string) {
	t.Helper()
	script := "for a in " + Join(words) + "; do printf '%s\\0' \"$a\"; done"
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	got := strings.Split(string(out), "\x00")
	got = got[:len(got)-1]
	if len(got) != len(words) {
		t.Fatalf("got %d words %q, want %d %q", len(got), got, len(words), words)
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("word %d: got %q, want %q", i, got[i], words[i])
		}
	}
}

func TestQuote(t *testing.T) {
	roundTrip(t, []string{"", "a b", "it's", `\`, "$HOME", "`id`", "a\nb", "*", "~", "-n", "\xff\xfe", "é", "'", "''", "!x", "#c", ";", "a=b"})
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "x", "'", "a b", "$(id)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			if Check([]string{s}) == nil {
				t.Fatal("NUL not refused")
			}
			return
		}
		roundTrip(t, []string{s})
	})
}

func TestCheckEnv(t *testing.T) {
	for _, bad := range []string{"NOEQ", "1A=x", "A-B=x", "=x", "A=\x00"} {
		if CheckEnv([]string{bad}) == nil {
			t.Errorf("CheckEnv(%q) = nil", bad)
		}
	}
	if err := CheckEnv([]string{"A=", "_b1=x=y"}); err != nil {
		t.Error(err)
	}
}
