package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/internal/sshdtest"
)

func TestRedactUnion(t *testing.T) {
	for _, c := range []struct {
		secrets []string
		in, out string
	}{
		{[]string{"db-pass-2024", "2024-api-key-XYZ"}, "x=db-pass-2024-api-key-XYZ;", "x=***;"},
		{[]string{"2024-api-key-XYZ", "db-pass-2024"}, "db-pass-2024-api-key-XYZ", "***"},
		{[]string{"abc", "XYZ"}, "abcXYZ abc", "****** ***"},
		{[]string{"aa"}, "aaa b aa", "*** b ***"},
		{[]string{"bcd", "abcdef"}, "-abcdef-", "-***-"},
		{[]string{"s3cr3t"}, "none here", "none here"},
	} {
		if got := newRedactor(c.secrets).string(c.in); got != c.out {
			t.Errorf("secrets %q: %q -> %q, want %q", c.secrets, c.in, got, c.out)
		}
	}
}

// TestSSHDRedactOverlappingSecrets: of two secrets that overlap in the
// output, no part shows in the result, the events or the error.
func TestSSHDRedactOverlappingSecrets(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c := clientAs(t, s, s.User, nil)
	var mu sync.Mutex
	var seen strings.Builder
	obs := ObserverFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&seen, "%+v\n", e)
	})
	res, err := c.Run(context.Background(), &Pipeline{
		Secrets:  []string{"db-pass-2024", "2024-api-key-XYZ"},
		Observer: obs,
		Steps: []Step{
			{Name: "out", Args: []string{"echo", "conn=db-pass-2024-api-key-XYZ"}},
			{Name: "fails", Script: "echo 'conn=db-pass-2024-api-key-XYZ' >&2; exit 3"},
		},
	})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v", err)
	}
	if got := string(res.Steps[0].Stdout); got != "conn=***\n" {
		t.Errorf("stdout %q", got)
	}
	mu.Lock()
	all := seen.String() + err.Error() + string(res.Steps[1].Stderr)
	mu.Unlock()
	for _, part := range []string{"db-pass", "2024", "api-key", "XYZ"} {
		if strings.Contains(all, part) {
			t.Errorf("%q shows in the events, the result or the error:\n%s", part, all)
		}
	}
}
