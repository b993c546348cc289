package broker

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
	"github.com/failsmall/breakglass/policy"
)

// signed is a verified signature: who signed, with which key, proving what.
type signed struct {
	principal *policy.Principal
	key       *policy.Key
	result    *hwkey.Result
}

// MaxSignatureSize bounds an armored SSHSIG.
const MaxSignatureSize = 16 << 10

// verifySignature finds the principal whose enrolled key made sig and checks
// sig is over text in the breakglass namespace. A signature by an enrolled
// key that fails over text was made over something else: ErrStatementMismatch.
func verifySignature(p *policy.Policy, sig, text []byte) (*signed, error) {
	if len(sig) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, more than %d", ErrBadSignature, len(sig), MaxSignatureSize)
	}
	ps, err := hwkey.ParseSignature(sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	pr, key, ok := p.PrincipalByKey(ps.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the signing key %s is enrolled for nobody in policy %s", ErrUnknownPrincipal, fingerprint(ps), p.Hash())
	}
	if pr.Disabled {
		return nil, fmt.Errorf("%w: principal %s is disabled", ErrForbidden, pr.ID)
	}
	res, err := hwkey.Verify(ps, key.PublicKey, hwkey.Namespace, text)
	switch {
	case err == nil:
		return &signed{principal: pr, key: key, result: res}, nil
	case errors.Is(err, hwkey.ErrBadSignature):
		return nil, fmt.Errorf("%w (signed by %s's key %s)", ErrStatementMismatch, pr.ID, key.Fingerprint)
	default:
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
}

func fingerprint(s *hwkey.Signature) string {
	if s.PublicKey == nil {
		return "(none)"
	}
	return ssh.FingerprintSHA256(s.PublicKey)
}
