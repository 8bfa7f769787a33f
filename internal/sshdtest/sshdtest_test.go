package sshdtest

import (
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestStartAndLogin(t *testing.T) {
	s := Start(t, Options{})
	c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo hello")
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("got %q, %v", out, err)
	}
}
