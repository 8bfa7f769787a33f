// Package lastline picks the end of command output for error messages.
package lastline

import "strings"

// Of returns the last non-empty line of b ("\r" and "\n" both end
// a line, so progress output gives its latest state), trimmed of
// trailing space and cut to its last max bytes, marked with "…", when
// longer. A max of 0 or less means no cut.
func Of(b []byte, max int) string {
	s := strings.TrimRight(string(b), "\r\n\t ")
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		s = s[i+1:]
	}
	if max > 0 && len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}
