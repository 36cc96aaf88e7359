//go:build unix && !linux

package pgtest

import "syscall"

// sysProcAttr runs a server process in its own process group, as cred when
// set.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}
