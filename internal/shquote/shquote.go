// Package shquote quotes words for the POSIX shell. It is the one place
// where ferry turns argv into shell text.
package shquote

import (
	"errors"
	"fmt"
	"strings"
)

// Quote returns s as one shell word that the shell reads back as exactly
// s. Words made only of safe characters are returned as they are.
// s must not contain a NUL byte, which no argv can carry; see [Check].
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word and joins them with spaces.
func Join(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(w))
	}
	return b.String()
}

// Check reports an error when a word cannot travel in argv: a NUL byte.
func Check(words []string) error {
	for i, w := range words {
		if strings.IndexByte(w, 0) >= 0 {
			return fmt.Errorf("argument %d contains a NUL byte, which a command line cannot carry", i)
		}
	}
	return nil
}

// ErrBadName is wrapped by errors about environment variable names.
var ErrBadName = errors.New("not a valid environment variable name")

// CheckEnv validates "KEY=value" pairs: KEY must be a shell name
// ([A-Za-z_][A-Za-z0-9_]*) and the value must have no NUL byte.
func CheckEnv(env []string) error {
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("environment entry %q has no '='", kv)
		}
		if !IsName(k) {
			return fmt.Errorf("environment entry %q: %w", k, ErrBadName)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("environment variable %s contains a NUL byte", k)
		}
	}
	return nil
}

// IsName reports whether s is a valid shell variable name.
func IsName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func isSafe(s string) bool {
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_./:@%+,=", c) >= 0:
		default:
			return false
		}
	}
	return true
}
