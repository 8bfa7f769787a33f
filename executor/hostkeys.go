package executor

import (
	"golang.org/x/crypto/ssh"
)

type callbackPolicy struct {
	cb    ssh.HostKeyCallback
	algos []string
}

func (p callbackPolicy) HostKeyCallback() ssh.HostKeyCallback { return p.cb }
func (p callbackPolicy) HostKeyAlgorithms(string) []string  { return p.algos }

// FixedHostKey accepts only key, and asks the server for key's algorithm.
func FixedHostKey(key ssh.PublicKey) HostKeyPolicy {
	algos := []string{key.Type()}
	if key.Type() == ssh.KeyAlgoRSA {
		algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return callbackPolicy{cb: ssh.FixedHostKey(key), algos: algos}
}

// InsecureIgnoreHostKey accepts any host key. It makes the connection
// open to a man in the middle; use it only where that cannot matter.
func InsecureIgnoreHostKey() HostKeyPolicy {
	return callbackPolicy{cb: ssh.InsecureIgnoreHostKey()}
}
