package lastline

import "testing"

func TestOf(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 10, ""},
		{"one\ntwo\n\n", 10, "two"},
		{"50%\r75%\r100%\r\n", 10, "100%"},
		{"error: abcdefghij\n", 5, "…fghij"},
		{"no newline at all", 0, "no newline at all"},
	} {
		if got := Of([]byte(c.in), c.max); got != c.want {
			t.Errorf("Of(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
