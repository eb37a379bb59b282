package hosts

// SSHCommand is rsync's -e command for h where the relay cannot start.
func SSHCommand(h *SSH) string { return h.sshCommand() }
