package token

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/failsmall/breakglass/internal/sshopt"
)

// Certificate critical options that sshd knows (PROTOCOL.certkeys). sshd
// refuses a certificate carrying a critical option it does not know, so
// SignCert refuses to issue one. The rules for their values, shared with
// package policy, are in internal/sshopt.
const (
	OptionForceCommand   = sshopt.ForceCommand
	OptionSourceAddress  = sshopt.SourceAddress
	OptionVerifyRequired = sshopt.VerifyRequired
)

func (spec CertSpec) validateCriticalOptions() error {
	for _, name := range slices.Sorted(maps.Keys(spec.CriticalOptions)) {
		if err := sshopt.CheckCriticalOption(name, spec.CriticalOptions[name]); err != nil {
			return fmt.Errorf("critical option %s: %w", quoteUnknown(name, err, sshopt.ErrUnknownOption), err)
		}
	}
	return nil
}

func (spec CertSpec) validateExtensions() error {
	for _, name := range slices.Sorted(maps.Keys(spec.Extensions)) {
		if err := sshopt.CheckExtension(name, spec.Extensions[name]); err != nil {
			return fmt.Errorf("extension %s: %w", quoteUnknown(name, err, sshopt.ErrUnknownExtension), err)
		}
	}
	return nil
}

// quoteUnknown quotes name in an error when err says it is unknown: a
// known name needs no quotes, an unknown one may hold anything.
func quoteUnknown(name string, err, unknown error) string {
	if errors.Is(err, unknown) {
		return strconv.Quote(name)
	}
	return name
}
