package sshopt

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheckCriticalOption(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // "" accepts
	}{
		{SourceAddress, "10.0.0.0/8,192.168.1.7,2001:db8::/32,::1", ""},
		{SourceAddress, "", "empty address list"},
		{SourceAddress, "10.0.0.0/8,", "empty entry"},
		{SourceAddress, "10.0.0.0/8, 127.0.0.1", `" 127.0.0.1" is not an IP address`},
		{SourceAddress, "intranet", `"intranet" is not an IP address`},
		{SourceAddress, "fe80::1%eth0", "is not an IP address"},
		{SourceAddress, "10.0.0.0/33", `"10.0.0.0/33" is not a CIDR prefix`},
		{SourceAddress, "10.0.0.1/8", "did you mean 10.0.0.0/8?"},
		{ForceCommand, "/usr/bin/systemctl restart db", ""},
		{ForceCommand, " ", "the command is empty"},
		{ForceCommand, "ls\x00rm", "contains NUL"},
		{VerifyRequired, "", ""},
		{VerifyRequired, "yes", `takes no value, got "yes"`},
		{"no-pty", "", "unknown"},
	}
	for _, tt := range tests {
		err := CheckCriticalOption(tt.name, tt.value)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s=%q: %v, want it accepted", tt.name, tt.value, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s=%q: %v, want an error saying %q", tt.name, tt.value, err, tt.want)
		}
	}
	if err := CheckCriticalOption("no-pty", ""); !errors.Is(err, ErrUnknownOption) {
		t.Errorf("unknown option: %v, want ErrUnknownOption", err)
	}
}

func TestCheckExtension(t *testing.T) {
	for _, name := range StandardExtensions() {
		if !IsStandardExtension(name) {
			t.Errorf("IsStandardExtension(%q) = false for a standard extension", name)
		}
		if err := CheckExtension(name, ""); err != nil {
			t.Errorf("%s with no value: %v", name, err)
		}
		if err := CheckExtension(name, "yes"); err == nil || !strings.Contains(err.Error(), "takes no value") {
			t.Errorf("%s=yes: %v, want takes no value", name, err)
		}
	}
	if err := CheckExtension("login@example.com", "anything"); err != nil {
		t.Errorf("vendor extension: %v", err)
	}
	for _, name := range []string{"", "permit-ptty", "permit-everything"} {
		if err := CheckExtension(name, ""); !errors.Is(err, ErrUnknownExtension) {
			t.Errorf("%q: %v, want ErrUnknownExtension", name, err)
		}
	}
	s := StandardExtensions()
	s[0] = "changed"
	if !slices.Contains(StandardExtensions(), "no-touch-required") {
		t.Error("StandardExtensions shares its slice with callers")
	}
}
