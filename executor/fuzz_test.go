package executor

import (
	"net"
	"strings"
	"testing"
)

func FuzzNormalizeAddr(f *testing.F) {
	for _, s := range []string{"", "host", "host:22", "[::1]:22", "[::1]", "::1", "a:b:c", "h:0", "h:65536", ":22", "h:", "[h]", "user@h", "h h", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := normalizeAddr(s)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			t.Fatalf("normalizeAddr(%q) = %q: not host:port", s, addr)
		}
		if again, err := normalizeAddr(addr); err != nil || again != addr {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, addr, again, err)
		}
	})
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"root@web1", "web1:2222", "u@[::1]:22", "@h", "u@", "a@b@c", "[::1", " h ", "h:x"} {
		f.Add(s, 22)
	}
	f.Fuzz(func(t *testing.T, s string, port int) {
		user, addr, err := ParseHost(s, port)
		if err != nil {
			return
		}
		if strings.ContainsAny(user, "@ \t") {
			t.Fatalf("ParseHost(%q): user %q", s, user)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			t.Fatalf("ParseHost(%q): addr %q", s, addr)
		}
	})
	_ = ReadHostList
}
