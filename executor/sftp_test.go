package executor

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// sftpPacket frames an SFTP packet: length, type, body.
func sftpPacket(typ byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(body)))
	return append(append(b, typ), body...)
}

// openPacket is an SSH_FXP_OPEN with no attributes, as pkg/sftp sends it.
func openPacket(id uint32, path string, pflags uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, id)
	b = binary.BigEndian.AppendUint32(b, uint32(len(path)))
	b = append(b, path...)
	b = binary.BigEndian.AppendUint32(b, pflags)
	b = binary.BigEndian.AppendUint32(b, 0) // attribute flags
	return sftpPacket(sshFxpOpen, b)
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// FuzzPrivateCreate feeds a packet stream through privateCreate in
// chunks of fuzzed sizes: the output is the input with exactly the
// creating opens given the permissions 0600, whatever the chunking.
func FuzzPrivateCreate(f *testing.F) {
	f.Add("/srv/app/.ferry-0123456789ab", uint32(0x1a), []byte("data"), []byte{1, 7, 3})
	f.Add("read-only", uint32(0x01), []byte{}, []byte{200})
	f.Add("", uint32(0x08), bytes.Repeat([]byte{3}, 300), []byte{0, 5})
	f.Fuzz(func(t *testing.T, path string, pflags uint32, payload, sizes []byte) {
		packets := [][]byte{
			openPacket(1, path, pflags),
			sftpPacket(6, append([]byte{0, 0, 0, 2}, payload...)), // a write, passed through
			sftpPacket(sshFxpOpen, payload),                       // an open of any shape
			openPacket(3, path, pflags|sshFxfCreat),
		}
		var in, want bytes.Buffer
		for _, p := range packets {
			in.Write(p)
			if p[4] == sshFxpOpen {
				want.Write(withPrivateMode(append([]byte(nil), p...)))
			} else {
				want.Write(p)
			}
		}
		var out bytes.Buffer
		pc := &privateCreate{w: nopCloser{&out}, closeAlso: nopCloser{}}
		data := in.Bytes()
		for i := 0; len(data) > 0; i++ {
			n := len(data)
			if len(sizes) > 0 {
				n = min(n, int(sizes[i%len(sizes)])+1)
			}
			if k, err := pc.Write(data[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v", k, err)
			}
			data = data[n:]
		}
		if !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Fatalf("out %x\nwant %x", out.Bytes(), want.Bytes())
		}
		// The last open creates: it carries the permissions 0600.
		last := withPrivateMode(openPacket(3, path, pflags|sshFxfCreat))
		if n := len(last); binary.BigEndian.Uint32(last) != uint32(n-4) ||
			binary.BigEndian.Uint32(last[n-8:]) != sshFileXferAttrPerm || binary.BigEndian.Uint32(last[n-4:]) != 0o600 {
			t.Fatalf("creating open not rewritten: %x", last)
		}
		// A plain open (no create flag) is left alone.
		if pflags&sshFxfCreat == 0 {
			if p := openPacket(1, path, pflags); !bytes.Equal(withPrivateMode(append([]byte(nil), p...)), p) {
				t.Fatal("an open that does not create was changed")
			}
		}
	})
}
