package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// TestSSHDHostKeyTypeChanged: known_hosts holds the host's ed25519 key,
// and the server now offers only an RSA key. That is a changed key, not
// a failed negotiation: Dial returns a *HostKeyError with the offered
// key's fingerprint, through KnownHosts and FixedHostKey alike, and a
// jump host in that state is reported the same way.
func TestSSHDHostKeyTypeChanged(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Config: []string{"HostKeyAlgorithms rsa-sha2-512,rsa-sha2-256"}})
	var ed, rsa ssh.PublicKey
	for _, k := range s.HostKeys {
		switch k.Type() {
		case ssh.KeyAlgoED25519:
			ed = k
		case ssh.KeyAlgoRSA:
			rsa = k
		}
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(sshdtest.KnownHostsLine(s.Addr, ed)), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, err error, want string) {
		t.Helper()
		var he *HostKeyError
		if !errors.As(err, &he) {
			t.Fatalf("got %v, want a *HostKeyError", err)
		}
		if he.Unknown() || he.KeyType != ssh.KeyAlgoRSA || he.Fingerprint != ssh.FingerprintSHA256(rsa) {
			t.Errorf("HostKeyError %+v, want the changed key %s %s", he, ssh.KeyAlgoRSA, ssh.FingerprintSHA256(rsa))
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
		t.Log(err)
		var te *TransportError
		if !errors.As(err, &te) {
			t.Errorf("not a *TransportError: %v", err)
		}
	}
	auth := []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()

	t.Run("known_hosts", func(t *testing.T) {
		_, err := Dial(ctx, s.Addr, &Config{User: s.User, Auth: auth, HostKeys: knownHostsT(t, kh)})
		check(t, err, ssh.FingerprintSHA256(ed))
	})
	t.Run("fixed", func(t *testing.T) {
		_, err := Dial(ctx, s.Addr, &Config{User: s.User, Auth: auth, HostKeys: FixedHostKey(ed)})
		check(t, err, ssh.FingerprintSHA256(ed))
	})
	t.Run("jump-host", func(t *testing.T) {
		target := sshdtest.Start(t, sshdtest.Options{})
		_, err := Dial(ctx, target.Addr, &Config{User: s.User, Auth: auth, HostKeys: knownHostsT(t, target.KnownHosts),
			Jump: []Hop{{Addr: s.Addr, HostKeys: knownHostsT(t, kh)}}})
		check(t, err, s.Addr)
	})
	t.Run("still-connects-with-the-right-key", func(t *testing.T) {
		c, err := Dial(ctx, s.Addr, &Config{User: s.User, Auth: auth, HostKeys: FixedHostKey(rsa)})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
}
