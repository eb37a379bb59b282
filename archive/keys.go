package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/klauspost/compress/zstd"
)

// ParseRecipient reads one --encrypt-to argument: an age public key
// (age1...), an SSH public key line (ssh-ed25519 ..., ssh-rsa ...), or a
// file holding such keys one a line, as age -R reads them.
func ParseRecipient(arg string) ([]age.Recipient, error) {
	switch {
	case strings.HasPrefix(arg, "age1"):
		rs, err := age.ParseRecipients(strings.NewReader(arg))
		if err != nil {
			return nil, fmt.Errorf("recipient %s: %w", arg, err)
		}
		return rs, nil
	case strings.HasPrefix(arg, "ssh-"):
		r, err := agessh.ParseRecipient(arg)
		if err != nil {
			return nil, fmt.Errorf("recipient %.20s...: %w", arg, err)
		}
		return []age.Recipient{r}, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("recipient %s: not an age or SSH public key, nor a file of them: %w", arg, err)
	}
	var out []age.Recipient
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "age1") && !strings.HasPrefix(line, "ssh-") {
			return nil, fmt.Errorf("recipients file %s: %q is not an age or SSH public key", arg, line)
		}
		rs, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("recipients file %s: %w", arg, err)
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("recipients file %s holds no key", arg)
	}
	return out, nil
}

// readPassphrase reads a passphrase file: its first line.
func readPassphrase(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	pass, _, _ := strings.Cut(string(data), "\n")
	pass = strings.TrimSuffix(pass, "\r")
	if pass == "" {
		return "", fmt.Errorf("passphrase file %s is empty", path)
	}
	return pass, nil
}

// ScryptWorkFactor is the log2 of scrypt's work factor for a passphrase:
// age's default, about a second on a current CPU. Tests lower it.
var ScryptWorkFactor = 18

// PassphraseRecipient encrypts with the passphrase in a file (scrypt).
func PassphraseRecipient(path string) (age.Recipient, error) {
	pass, err := readPassphrase(path)
	if err != nil {
		return nil, err
	}
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(ScryptWorkFactor)
	return r, nil
}

// PassphraseIdentity decrypts with the passphrase in a file.
func PassphraseIdentity(path string) (age.Identity, error) {
	pass, err := readPassphrase(path)
	if err != nil {
		return nil, err
	}
	return age.NewScryptIdentity(pass)
}

// ParseIdentityFile reads an identity file: age secret keys
// (AGE-SECRET-KEY-1...), or an unencrypted SSH private key.
func ParseIdentityFile(path string) ([]age.Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", path, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return ids, nil
}

// ageMagic starts every age file.
const ageMagic = "age-encryption.org/v1"

// Open returns the tar stream of an export: decrypted with identities when
// it is encrypted, then decompressed. Close the returned reader.
func Open(r io.Reader, identities []age.Identity) (io.ReadCloser, error) {
	head := make([]byte, len(ageMagic))
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	r = io.MultiReader(bytes.NewReader(head[:n]), r)
	if string(head[:n]) == ageMagic {
		if len(identities) == 0 {
			return nil, errors.New("the archive is encrypted: give --identity FILE or --passphrase-file FILE")
		}
		if r, err = age.Decrypt(r, identities...); err != nil {
			return nil, fmt.Errorf("decrypt: %w", err)
		}
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("not a zstd stream: %w", err)
	}
	return zr.IOReadCloser(), nil
}
