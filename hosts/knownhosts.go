package hosts

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrHostKey means a host's key is unknown or differs from known_hosts.
var ErrHostKey = errors.New("host key not trusted")

// hostKeyError says which key the host showed and what to do about it.
type hostKeyError struct {
	host      string
	file      string
	got       ssh.PublicKey
	want      []knownhosts.KnownKey // empty: the host is unknown
	addedLine string
}

func (e *hostKeyError) Error() string {
	fp := ssh.FingerprintSHA256(e.got)
	if len(e.want) == 0 {
		return fmt.Sprintf("host key of %s is unknown (%s %s); check the fingerprint, then add this line to %s: %s (or set ssh.accept_new_host_keys: true)",
			e.host, e.got.Type(), fp, e.file, e.addedLine)
	}
	var known []string
	for _, k := range e.want {
		known = append(known, fmt.Sprintf("%s:%d has %s", k.Filename, k.Line, ssh.FingerprintSHA256(k.Key)))
	}
	return fmt.Sprintf("host key of %s has CHANGED: it shows %s %s but %s; someone may be intercepting the connection, or the host was reinstalled (then remove that line)",
		e.host, e.got.Type(), fp, strings.Join(known, ", "))
}

func (e *hostKeyError) Unwrap() error { return ErrHostKey }

// knownHostsMu serialises appends to known_hosts files within this process.
var knownHostsMu sync.Mutex

// hostKeyCallback verifies host keys against known_hosts, and returns the
// host key algorithms to ask for: those of the keys known for the host, so a
// host with a known ed25519 key is not refused for showing its RSA key.
func (h *SSH) hostKeyCallback() (ssh.HostKeyCallback, []string, error) {
	file := h.opts.KnownHosts
	if !fileExists(file) {
		if !h.opts.AcceptNewHostKeys {
			return nil, nil, fmt.Errorf("known_hosts file %s does not exist: create it with the host's key (ssh-keyscan -p %d %s), or set ssh.accept_new_host_keys: true", file, h.Port, h.Host)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			return nil, nil, err
		}
	}
	known, err := knownhosts.New(file)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts %s: %w", file, err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := known(hostname, remote, key)
		var keyErr *knownhosts.KeyError
		if !errors.As(err, &keyErr) {
			return err
		}
		line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
		if len(keyErr.Want) == 0 && h.opts.AcceptNewHostKeys {
			return appendLine(file, line)
		}
		return &hostKeyError{host: h.Name(), file: file, got: key, want: keyErr.Want, addedLine: line}
	}
	return cb, knownAlgorithms(known, h.hostPort()), nil
}

// knownAlgorithms lists the host key algorithms of the keys known for
// hostport, found by asking the callback about a key it cannot know.
func knownAlgorithms(known ssh.HostKeyCallback, hostport string) []string {
	err := known(hostport, &net.TCPAddr{IP: net.IPv4zero}, probeKey{})
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range keyErr.Want {
		types := []string{k.Key.Type()}
		if k.Key.Type() == ssh.KeyAlgoRSA {
			types = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, t := range types {
			if !seen[t] {
				seen[t] = true
				algos = append(algos, t)
			}
		}
	}
	return algos
}

// probeKey is a public key that matches no known_hosts line.
type probeKey struct{}

func (probeKey) Type() string                        { return "depot-probe" }
func (probeKey) Marshal() []byte                     { return []byte("depot-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

func appendLine(file, line string) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("add host key to %s: %w", file, err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("add host key to %s: %w", file, err)
	}
	return nil
}

// RsyncShell is rsync's -e command. It is depot's own binary as a relay
// onto depot's connection to the host (see relay), so rsync needs no
// connection of its own. Where the relay cannot start it is the system
// ssh with the same identity, port and known_hosts as depot's own
// connections, strict host key checking and no prompts, so both paths
// trust exactly the same keys.
func (h *SSH) RsyncShell() string {
	if sh, err := h.relayShell(); err == nil {
		return sh
	}
	return h.sshCommand()
}

// sshCommand is the system ssh as rsync's -e command.
func (h *SSH) sshCommand() string {
	words := []string{"ssh", "-p", fmt.Sprint(h.Port)}
	if h.opts.IdentityFile != "" {
		words = append(words, "-i", h.opts.IdentityFile)
	}
	words = append(words,
		"-o", "UserKnownHostsFile="+h.opts.KnownHosts,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", fmt.Sprintf("ConnectTimeout=%d", int(h.opts.ConnectTimeout.Seconds())),
		"-o", fmt.Sprintf("ServerAliveInterval=%d", int(h.opts.KeepAlive.Seconds())),
		"-o", "ServerAliveCountMax=3",
	)
	return rshWords(words)
}

// RsyncPath is path on this host in rsync's user@host:path notation.
func (h *SSH) RsyncPath(path string) string {
	host := h.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return h.User + "@" + host + ":" + path
}
