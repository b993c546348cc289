package token

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Certificate critical options that sshd knows (PROTOCOL.certkeys). sshd
// refuses a certificate carrying a critical option it does not know, so
// SignCert refuses to issue one.
const (
	OptionForceCommand   = "force-command"
	OptionSourceAddress  = "source-address"
	OptionVerifyRequired = "verify-required"
)

// standardExtensions are the flag extensions of PROTOCOL.certkeys; each takes
// an empty value. Other extensions must be vendor names (name@domain).
var standardExtensions = []string{
	"no-touch-required",
	"permit-X11-forwarding",
	"permit-agent-forwarding",
	"permit-port-forwarding",
	"permit-pty",
	"permit-user-rc",
}

func (spec CertSpec) validateCriticalOptions() error {
	for _, name := range slices.Sorted(maps.Keys(spec.CriticalOptions)) {
		value := spec.CriticalOptions[name]
		switch name {
		case OptionSourceAddress:
			if err := ValidateSourceAddress(value); err != nil {
				return fmt.Errorf("critical option %s: %w", name, err)
			}
		case OptionForceCommand:
			if strings.TrimSpace(value) == "" || strings.ContainsRune(value, 0) {
				return fmt.Errorf("critical option %s: command is empty or contains NUL", name)
			}
		case OptionVerifyRequired:
			if value != "" {
				return fmt.Errorf("critical option %s: takes no value, got %q", name, value)
			}
		default:
			return fmt.Errorf("critical option %q: unknown (sshd would refuse the certificate)", name)
		}
	}
	return nil
}

func (spec CertSpec) validateExtensions() error {
	for _, name := range slices.Sorted(maps.Keys(spec.Extensions)) {
		value := spec.Extensions[name]
		switch {
		case slices.Contains(standardExtensions, name):
			if value != "" {
				return fmt.Errorf("extension %s: takes no value, got %q", name, value)
			}
		case name == "" || !strings.Contains(name, "@"):
			return fmt.Errorf("extension %q: unknown; vendor extensions are named name@domain", name)
		}
	}
	return nil
}

// ValidateSourceAddress checks a source-address list as sshd reads it: a
// comma-separated list, without spaces, of IPv4/IPv6 addresses and CIDR
// prefixes with no host bits set (sshd rejects 10.0.0.1/8).
func ValidateSourceAddress(list string) error {
	if list == "" {
		return errors.New("empty address list")
	}
	for entry := range strings.SplitSeq(list, ",") {
		if err := validateCIDREntry(entry); err != nil {
			return err
		}
	}
	return nil
}

func validateCIDREntry(entry string) error {
	if entry == "" {
		return errors.New("empty entry in address list")
	}
	if !strings.Contains(entry, "/") {
		a, err := netip.ParseAddr(entry)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is not an IP address or CIDR prefix", entry)
		}
		return nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return fmt.Errorf("%q is not a CIDR prefix: %w", entry, err)
	}
	if p != p.Masked() {
		return fmt.Errorf("%q has host bits set; did you mean %s", entry, p.Masked())
	}
	return nil
}
