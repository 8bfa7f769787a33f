package executor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
	"golang.org/x/crypto/ssh"
)

// Fault suite for file transfers, against a real sshd. Its figures are
// quoted in the README ("How ferry behaves").

// faultTrials is the number of trials of each fault.
const faultTrials = 10

// cutAt is a stream (it cannot seek, so a lost upload is not retried)
// that calls cut once its first at bytes have been read.
type cutAt struct {
	r   io.Reader
	at  int64
	n   int64
	cut func()
	did bool
}

func (c *cutAt) Read(p []byte) (int, error) {
	if !c.did && c.n >= c.at {
		c.did = true
		c.cut()
	}
	if !c.did {
		p = p[:min(int64(len(p)), c.at-c.n)]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestFaultUploadLinkCut cuts the link (Toxiproxy disables the proxy,
// closing both ends) at a random point of an upload, faultTrials times.
// Each time: the upload fails with a *TransportError inside its
// *FileError, the old file is intact, and once the link is back the
// next upload of the same Client succeeds and leaves no temporary file
// in the directory (the lost one included).
func TestFaultUploadLinkCut(t *testing.T) {
	api := testenv.Toxiproxy(t)
	s := sshdtest.Start(t, sshdtest.Options{})
	addr, proxy := testenv.NewProxy(t, api, s.Addr)
	cfg := &Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: FixedHostKey(s.HostKeys[0])}
	ctx := ctxT(t)
	c, err := Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	target := filepath.Join(dir, "release.tar")
	const size = 4 << 20
	data := make([]byte, size)
	ok := 0
	for i := range faultTrials {
		old := fmt.Sprintf("release %d\n", i)
		if err := os.WriteFile(target, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		at := rand.Int64N(size)
		r := &cutAt{r: bytes.NewReader(data), at: at, cut: func() { testenv.SetProxyEnabled(t, api, proxy, false) }}
		err := c.UploadReader(ctx, r, target, &FileOptions{Mode: 0o644, Size: size})
		testenv.SetProxyEnabled(t, api, proxy, true)
		var te *TransportError
		var fe *FileError
		switch {
		case !r.did:
			t.Errorf("trial %d: the link was not cut (err %v)", i, err)
		case err == nil:
			t.Errorf("trial %d: cut after %d bytes, and no error", i, at)
		case !errors.As(err, &fe) || !errors.As(err, &te):
			t.Errorf("trial %d: cut after %d bytes: %v (%T), want a *TransportError in a *FileError", i, at, err, err)
		default:
			ok++
		}
		if b, _ := os.ReadFile(target); string(b) != old {
			t.Errorf("trial %d: old file damaged: %d bytes", i, len(b))
		}
		if err := c.WriteFile(ctx, filepath.Join(dir, "next"), []byte("next"), 0o644); err != nil {
			t.Fatalf("trial %d: the upload after the cut: %v", i, err)
		}
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("trial %d: temporary files left after the next upload: %v", i, l)
		}
	}
	t.Logf("link cut during an upload: %d of %d trials gave a *TransportError, old file intact, no temp file left", ok, faultTrials)
}

// TestFaultUploadDiskFull uploads more than the target's file system
// holds (a 1 MiB tmpfs, mounted by the test as root), faultTrials times
// with random sizes, as a known size and as a stream. Each time: an error
// that says the disk is full, the old file intact, no temporary file.
func TestFaultUploadDiskFull(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c := clientAs(t, s, s.User, nil)
	ctx := ctxT(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testenv.Require(t, "FERRY_REQUIRE_SSHD", fmt.Sprintf("cannot mount a tmpfs: %v %s", err, bytes.TrimSpace(out)), "run the tests as root (.ci/run)")
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	target := filepath.Join(mnt, "compose.yaml")
	ok := 0
	for i := range faultTrials {
		old := fmt.Sprintf("old content %d\n", i)
		if err := os.WriteFile(target, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		size := 1<<20 + rand.IntN(3<<20)
		var r io.Reader = bytes.NewReader(make([]byte, size))
		if i%2 == 1 {
			r = io.MultiReader(r) // a stream of unknown size
		}
		err := c.UploadReader(ctx, r, target, &FileOptions{Mode: 0o644})
		good := err != nil && strings.Contains(err.Error(), "disk full")
		if !good {
			t.Errorf("trial %d: %d bytes into 1 MiB: %v", i, size, err)
		}
		if b, _ := os.ReadFile(target); string(b) != old {
			t.Errorf("trial %d: old file damaged: %d bytes", i, len(b))
			good = false
		}
		if l := leftovers(t, mnt); len(l) > 0 {
			t.Errorf("trial %d: temporary files left: %v", i, l)
			good = false
		}
		if good {
			ok++
		}
	}
	t.Logf("disk full during an upload: %d of %d trials gave a disk-full error, old file intact, no temp file left", ok, faultTrials)
}
