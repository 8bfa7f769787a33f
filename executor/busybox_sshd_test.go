package executor_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
)

// busyboxExecutors returns a client of a real sshd whose sessions find
// busybox's head (and cat) first on their PATH, and Local with the same
// PATH.
func busyboxExecutors(t *testing.T) map[string]runner {
	bb := sshdtest.BusyboxDir(t, "head", "cat")
	c, _ := dialSSHD(t, sshdtest.Options{Config: []string{sshdtest.SetPath(bb, "/usr/bin", "/bin")}})
	out, err := c.Command("sh", "-c", "command -v head; head --help 2>&1 | head -1").Output(context.Background())
	if err != nil || !bytes.Contains(out, []byte("BusyBox")) {
		t.Fatalf("the session's head is not busybox's: %q %v", out, err)
	}
	t.Setenv("PATH", bb+":/usr/bin:/bin")
	return map[string]runner{"sshd": c, "local": &executor.Local{}}
}

// A command's stdin arrives byte-exact on a host whose head is busybox's,
// which reads ahead of the byte count it is given.
func TestBusyboxStdinExact(t *testing.T) {
	for name, ex := range busyboxExecutors(t) {
		t.Run(name, func(t *testing.T) {
			for _, size := range []int{1, 4095, 65536, 65536 + 1234, 1 << 20} {
				in := make([]byte, size)
				rand.Read(in)
				cmd := ex.Command("cat")
				cmd.Stdin = bytes.NewReader(in)
				out, err := cmd.Output(context.Background())
				if err != nil {
					t.Fatalf("%d bytes: %v", size, err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("Cmd: %d bytes sent, %d received (equal prefix %v)", size, len(out), bytes.HasPrefix(in, out))
				}
				res, err := ex.Run(context.Background(), &executor.Pipeline{Steps: []executor.Step{
					{Args: []string{"true"}},
					{Args: []string{"sha256sum"}, Stdin: bytes.NewReader(in)},
				}})
				if err != nil {
					t.Fatalf("pipeline, %d bytes: %v", size, err)
				}
				sum := sha256.Sum256(in)
				if got, want := string(res.Steps[1].Stdout), hex.EncodeToString(sum[:])+"  -\n"; got != want {
					t.Fatalf("Step: %d bytes sent, checksum %q, want %q", size, got, want)
				}
			}
		})
	}
}
