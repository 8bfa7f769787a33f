package executor

import (
	"bytes"
	"strings"
	"testing"
)

// split feeds data to w in chunks of the given sizes (cycled).
func split(w interface{ Write([]byte) (int, error) }, data []byte, sizes []byte) {
	for i := 0; len(data) > 0; i++ {
		n := 1
		if len(sizes) > 0 {
			n = int(sizes[i%len(sizes)])%17 + 1
		}
		n = min(n, len(data))
		w.Write(data[:n])
		data = data[n:]
	}
}

func FuzzLineSplitter(f *testing.F) {
	f.Add([]byte("a\nbb\r\nccc\rdd"), []byte{1, 2, 3}, "bb")
	f.Add([]byte("token=s3cr3t;s3cr3t"), []byte{4}, "s3cr3t")
	f.Fuzz(func(t *testing.T, data, sizes []byte, secret string) {
		red := newRedactor([]string{secret})
		var got bytes.Buffer
		var lines []string
		l := &lineSplitter{red: red, maxLine: 8, emit: func(b []byte) {
			got.Write(b)
			lines = append(lines, string(b))
		}}
		split(l, data, sizes)
		l.Flush()
		want := red.bytes(append([]byte(nil), data...))
		// (A secret with "*" in it can be formed by the "***" put in its
		// place; that is no leak.)
		if secret != "" && !strings.Contains(secret, "*") && !strings.ContainsAny(secret, "\r\n") && len(secret) <= 4*8 {
			for _, line := range lines {
				if strings.Contains(line, secret) {
					t.Fatalf("secret %q in line %q", secret, line)
				}
			}
		}
		// Without secrets the output is the input, whatever the chunking;
		// with secrets, redaction is the same as of the whole.
		if strings.ContainsAny(secret, "\r\n") {
			// Redacted line by line: no line of it, long enough, shows.
			for _, part := range strings.FieldsFunc(secret, func(c rune) bool { return c == '\r' || c == '\n' }) {
				if len(part) >= minSecretLine && !strings.Contains(redacted, part) && !selfOverlaps(part) && strings.Contains(got.String(), part) {
					t.Fatalf("line %q of a secret in %q", part, got.String())
				}
			}
			return
		}
		if !bytes.Equal(got.Bytes(), want) && !strings.Contains(redacted, secret) && !selfOverlaps(secret) {
			t.Fatalf("got %q, want %q", got.Bytes(), want)
		}
		for i, line := range lines[:max(len(lines)-1, 0)] {
			// A long line is cut at maxLine, or earlier only to keep a
			// secret whole.
			if secret == "" && !strings.HasSuffix(line, "\n") && !strings.HasSuffix(line, "\r") && len(line) < 8 {
				t.Fatalf("line %d %q cut short", i, line)
			}
		}
	})
}

func FuzzDemux(f *testing.F) {
	f.Add([]byte("out1"), []byte("out2"), []byte{3, 1})
	f.Add([]byte("\x1eFERRYab"), []byte(""), []byte{1})
	f.Fuzz(func(t *testing.T, a, b, sizes []byte) {
		const nonce = "abc123"
		var stream []byte
		stream = append(stream, a...)
		stream = append(stream, "\x1eFERRY"+nonce+":s:1\x1e"...)
		stream = append(stream, b...)
		stream = append(stream, "\x1eFERRY"+nonce+":e:1:0\x1e"...)
		var data bytes.Buffer
		var markers []string
		d := newDemux(nonce, func(p []byte) { data.Write(p) }, func(m string) { markers = append(markers, m) })
		split(d, stream, sizes)
		d.Flush()
		if bytes.Contains(a, []byte("\x1eFERRY"+nonce)) || bytes.Contains(b, []byte("\x1eFERRY"+nonce)) {
			return // the data forged a marker: not a case the nonce allows
		}
		if want := string(a) + string(b); data.String() != want {
			t.Fatalf("data %q, want %q", data.String(), want)
		}
		if len(markers) != 2 || markers[0] != "s:1" || markers[1] != "e:1:0" {
			t.Fatalf("markers %q", markers)
		}
	})
}

func TestCapture(t *testing.T) {
	c := newCapture(10)
	c.Write([]byte("0123456789abcdefghij"))
	if !c.Truncated() || !strings.HasPrefix(string(c.Bytes()), "01234") || !strings.HasSuffix(string(c.Bytes()), "fghij") || !strings.Contains(string(c.Bytes()), "10 bytes omitted") {
		t.Fatalf("%q", c.Bytes())
	}
	c = newCapture(10)
	c.Write([]byte("short"))
	if c.Truncated() || string(c.Bytes()) != "short" {
		t.Fatalf("%q", c.Bytes())
	}
}

// selfOverlaps reports whether two occurrences of s can overlap ("aa",
// "abab"): then where a chunked stream is cut decides which ones are
// replaced.
func selfOverlaps(s string) bool {
	for k := 1; k < len(s); k++ {
		if s[:k] == s[len(s)-k:] {
			return true
		}
	}
	return false
}
