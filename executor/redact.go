package executor

import (
	"bytes"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// redactor replaces secret values by "***".
type redactor struct {
	secrets [][]byte // longest first
	max     int
}

const redacted = "***"

// minSecretLine is the shortest line of a multi-line secret that is
// redacted on its own.
const minSecretLine = 4

// newRedactor returns a redactor for the secrets in lists. Output is
// redacted line by line, so a secret that spans lines (a PEM key, say)
// is redacted as each of its lines; lines shorter than minSecretLine are
// left alone, or "1" would hide every digit.
func newRedactor(lists ...[]string) *redactor {
	seen := map[string]bool{}
	r := &redactor{}
	add := func(s string) {
		if s == "" || seen[s] {
			return
		}
		seen[s] = true
		r.secrets = append(r.secrets, []byte(s))
		r.max = max(r.max, len(s))
	}
	for _, l := range lists {
		for _, s := range l {
			add(s)
			// The forms quoting gives it in command lines and error
			// texts: shell quoting ('\'' for '), Go quoting (%q).
			add(strings.ReplaceAll(s, "'", `'\''`))
			if q := strconv.Quote(s); len(q) >= 2 {
				add(q[1 : len(q)-1])
			}
			if strings.ContainsAny(s, "\r\n") {
				for _, part := range strings.FieldsFunc(s, func(c rune) bool { return c == '\r' || c == '\n' }) {
					if len(part) >= minSecretLine {
						add(part)
					}
				}
			}
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

func (r *redactor) bytes(b []byte) []byte {
	if r == nil || len(r.secrets) == 0 {
		return b
	}
	// Every occurrence of every secret, overlapping ones included: what
	// is redacted is their union, so that of two secrets that overlap
	// ("db-pass-2024" and "2024-api-key" in "db-pass-2024-api-key") no
	// part shows.
	var spans [][2]int
	for _, s := range r.secrets {
		for off := 0; ; {
			i := bytes.Index(b[off:], s)
			if i < 0 {
				break
			}
			spans = append(spans, [2]int{off + i, off + i + len(s)})
			off += i + 1
		}
	}
	if len(spans) == 0 {
		return b
	}
	slices.SortFunc(spans, func(x, y [2]int) int { return x[0] - y[0] })
	out := make([]byte, 0, len(b))
	pos, cur := 0, spans[0]
	for _, sp := range spans[1:] {
		if sp[0] < cur[1] {
			cur[1] = max(cur[1], sp[1])
			continue
		}
		out = append(append(out, b[pos:cur[0]]...), redacted...)
		pos, cur = cur[1], sp
	}
	out = append(append(out, b[pos:cur[0]]...), redacted...)
	return append(out, b[cur[1]:]...)
}

func (r *redactor) string(s string) string {
	if r == nil || len(r.secrets) == 0 {
		return s
	}
	return string(r.bytes([]byte(s)))
}

// safeCut returns a cut point near want such that no secret occurrence
// in b straddles it: past an occurrence that b holds whole (it is
// redacted with what goes out), before one that b holds only the start
// of. It returns 0 when it finds no such point.
func (r *redactor) safeCut(b []byte, want int) int {
	if r == nil {
		return want
	}
	for round := 0; round < 64; round++ {
		moved := false
		for _, s := range r.secrets {
			for off := max(0, want-len(s)+1); off < want; {
				i := bytes.Index(b[off:], s)
				if i < 0 {
					break
				}
				start := off + i
				if start >= want {
					break
				}
				if end := start + len(s); end > want {
					if end <= len(b) {
						want = end
					} else {
						want = start
					}
					moved = true
					break
				}
				off = start + 1
			}
		}
		if !moved {
			return want
		}
	}
	return 0
}
