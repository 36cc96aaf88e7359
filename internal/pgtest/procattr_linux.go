package pgtest

import "syscall"

// sysProcAttr runs a server process in its own process group, as cred when
// set. Pdeathsig: if the test process dies without cleanup (a timeout panic,
// SIGKILL), the server dies with it instead of lingering.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
}
