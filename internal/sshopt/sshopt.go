// Package sshopt is the one definition of the OpenSSH user certificate
// options breakglass issues, and of how sshd reads their values
// (PROTOCOL.certkeys and sshd's auth-options.c). Package policy checks a
// role's ssh: section with it, so that a role never promises a
// certificate sshd refuses or misreads; package token checks every
// certificate it signs with it, whatever the caller built. Both therefore
// accept exactly the same options.
package sshopt

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Critical options that sshd knows. sshd refuses a certificate carrying a
// critical option it does not know.
const (
	ForceCommand   = "force-command"
	SourceAddress  = "source-address"
	VerifyRequired = "verify-required"
)

// ErrUnknownOption: a critical option sshd does not know, so it would
// refuse the certificate.
var ErrUnknownOption = errors.New("unknown (sshd would refuse the certificate)")

// ErrUnknownExtension: an extension that is neither one of
// StandardExtensions nor a vendor name (name@domain).
var ErrUnknownExtension = errors.New("unknown; vendor extensions are named name@domain")

// StandardExtensions returns the flag extensions of PROTOCOL.certkeys, in
// a new slice; each takes an empty value.
func StandardExtensions() []string {
	return []string{
		"no-touch-required",
		"permit-X11-forwarding",
		"permit-agent-forwarding",
		"permit-port-forwarding",
		"permit-pty",
		"permit-user-rc",
	}
}

// IsStandardExtension reports whether name is one of StandardExtensions.
func IsStandardExtension(name string) bool {
	switch name {
	case "no-touch-required", "permit-X11-forwarding", "permit-agent-forwarding",
		"permit-port-forwarding", "permit-pty", "permit-user-rc":
		return true
	}
	return false
}

// CheckExtension checks an extension as sshd reads it: a standard one takes
// an empty value, any other must be a vendor name (name@domain), which
// sshd ignores; the error wraps ErrUnknownExtension then.
func CheckExtension(name, value string) error {
	switch {
	case IsStandardExtension(name):
		if value != "" {
			return fmt.Errorf("takes no value, got %q", value)
		}
	case name == "" || !strings.Contains(name, "@"):
		return ErrUnknownExtension
	}
	return nil
}

// CheckCriticalOption checks a critical option as sshd reads it: its value
// by CheckSourceAddress, CheckForceCommand, or empty for verify-required;
// any other name wraps ErrUnknownOption.
func CheckCriticalOption(name, value string) error {
	switch name {
	case SourceAddress:
		return CheckSourceAddress(value)
	case ForceCommand:
		return CheckForceCommand(value)
	case VerifyRequired:
		if value != "" {
			return fmt.Errorf("takes no value, got %q", value)
		}
		return nil
	}
	return ErrUnknownOption
}

// CheckForceCommand refuses a command that is blank or holds a NUL byte,
// which sshd would cut short.
func CheckForceCommand(cmd string) error {
	if strings.TrimSpace(cmd) == "" || strings.ContainsRune(cmd, 0) {
		return errors.New("the command is empty or contains NUL")
	}
	return nil
}

// CheckSourceAddress checks a source-address list as sshd reads it: a
// comma-separated list, without spaces, of IPv4/IPv6 addresses (no zone)
// and CIDR prefixes with no host bits set (sshd rejects 10.0.0.1/8).
func CheckSourceAddress(list string) error {
	if list == "" {
		return errors.New("empty address list")
	}
	for entry := range strings.SplitSeq(list, ",") {
		if err := checkAddressEntry(entry); err != nil {
			return err
		}
	}
	return nil
}

func checkAddressEntry(entry string) error {
	if entry == "" {
		return errors.New("empty entry in address list")
	}
	if !strings.Contains(entry, "/") {
		if a, err := netip.ParseAddr(entry); err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is not an IP address or CIDR prefix (write them comma-separated, without spaces)", entry)
		}
		return nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return fmt.Errorf("%q is not a CIDR prefix: %v", entry, err)
	}
	if p != p.Masked() {
		return fmt.Errorf("%q has host bits set; did you mean %s?", entry, p.Masked())
	}
	return nil
}
