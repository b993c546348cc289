package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/hwkey"
)

// Rejections of a new bundle. VerifyBundle and PinBundle wrap exactly one of
// them, or ErrBundleMalformed, so a caller can audit the reason.
var (
	// ErrBundleQuorum: fewer than k distinct admins of the active policy
	// signed the bundle with a valid signature. The error is a
	// *BundleQuorumError naming who did.
	ErrBundleQuorum = errors.New("too few admin signatures on the policy bundle")
	// ErrBundleSigner: the quorum is short and at least one signature came
	// from someone who is not an admin of the active policy (for example an
	// admin named only in the new bundle). Also a *BundleQuorumError.
	ErrBundleSigner = errors.New("policy bundle signed by someone who is not an admin of the active policy")
	// ErrBundleSerial: the serial is not higher than the active bundle's.
	ErrBundleSerial = errors.New("policy bundle serial is not higher than the active one")
	// ErrBundlePrevious: previous is not the active bundle's hash.
	ErrBundlePrevious = errors.New("policy bundle does not follow the active bundle")
	// ErrBundlePolicy: the policy inside does not validate; the error also
	// wraps the *ValidationError.
	ErrBundlePolicy = errors.New("policy bundle holds an invalid policy")
)

// BundleQuorumError says why the admin signatures fall short.
type BundleQuorumError struct {
	K        int      // signatures required
	Valid    []string // admins with a valid signature, in signature order
	NotAdmin []string // signers who are not admins (principal id, or key fingerprint when unknown)
	Invalid  []string // signatures by admins that do not verify, with the reason
}

func (e *BundleQuorumError) Error() string {
	msg := fmt.Sprintf("%d valid admin signature(s) from [%s], need %d", len(e.Valid), strings.Join(e.Valid, ", "), e.K)
	if len(e.NotAdmin) > 0 {
		msg += fmt.Sprintf("; not admins of the active policy: [%s]", strings.Join(e.NotAdmin, ", "))
	}
	if len(e.Invalid) > 0 {
		msg += "; invalid: " + strings.Join(e.Invalid, "; ")
	}
	return e.Unwrap().Error() + ": " + msg
}

// Unwrap returns ErrBundleSigner when a non-admin signed, else ErrBundleQuorum.
func (e *BundleQuorumError) Unwrap() error {
	if len(e.NotAdmin) > 0 {
		return ErrBundleSigner
	}
	return ErrBundleQuorum
}

// VerifyBundle decides whether the signed bundle may replace the active
// state (current, the active policy; currentBundle, the active bundle, nil
// when the broker runs from a policy not yet pinned as a bundle). k, the
// admin quorum, comes from the caller (the broker's configuration, fixed at
// init) and must be between 1 and the number of current admins.
//
// It checks, in this order, and stops at the first failure:
//  1. the file parses (ErrBundleMalformed);
//  2. at least k distinct admins of current (current.Admins, not disabled)
//     signed its canonical bytes with an enrolled key in namespace
//     hwkey.PolicyNamespace (*BundleQuorumError);
//  3. its serial is higher than currentBundle's (ErrBundleSerial);
//  4. previous equals currentBundle's hash, or is empty when currentBundle
//     is nil (ErrBundlePrevious);
//  5. the policy inside validates (ErrBundlePolicy and *ValidationError).
//
// It does no I/O and never changes current.
func VerifyBundle(signed []byte, current *Policy, currentBundle *BundleInfo, k int) (*SignedBundle, *Policy, error) {
	if current == nil {
		return nil, nil, errors.New("verify bundle: no active policy: pin the first bundle with PinBundle")
	}
	if k < 1 || k > len(current.Admins) {
		return nil, nil, fmt.Errorf("verify bundle: admin quorum %d must be between 1 and the %d admins of the active policy", k, len(current.Admins))
	}
	sb, err := ParseSignedBundle(signed)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckBundleSignatures(sb, current, k); err != nil {
		return nil, nil, err
	}
	if err := checkChain(sb, currentBundle); err != nil {
		return nil, nil, err
	}
	p, err := bundlePolicy(sb)
	if err != nil {
		return nil, nil, err
	}
	return sb, p, nil
}

// PinBundle accepts the first bundle, the one an operator pins at init: it
// must have no previous hash and k distinct admins named in its own policy
// must have signed it; k 0 means the policy's own admin_quorum. Trust comes
// from the operator choosing the file.
func PinBundle(signed []byte, k int) (*SignedBundle, *Policy, error) {
	sb, err := ParseSignedBundle(signed)
	if err != nil {
		return nil, nil, err
	}
	if sb.Bundle.Previous != "" {
		return nil, nil, fmt.Errorf("%w: a pinned first bundle has no previous hash, this one names %s", ErrBundlePrevious, sb.Bundle.Previous)
	}
	p, err := bundlePolicy(sb)
	if err != nil {
		return nil, nil, err
	}
	if k == 0 {
		k = p.AdminQuorum
	}
	if k < 1 || k > len(p.Admins) {
		return nil, nil, fmt.Errorf("pin bundle: admin quorum %d must be between 1 and the %d admins the bundle names", k, len(p.Admins))
	}
	if err := CheckBundleSignatures(sb, p, k); err != nil {
		return nil, nil, err
	}
	return sb, p, nil
}

func checkChain(sb *SignedBundle, cur *BundleInfo) error {
	if cur == nil {
		if sb.Bundle.Previous != "" {
			return fmt.Errorf("%w: previous is %s but no bundle is active yet (want it empty)", ErrBundlePrevious, sb.Bundle.Previous)
		}
		return nil
	}
	if sb.Bundle.Serial <= cur.Serial {
		return fmt.Errorf("%w: serial %d, the active bundle is serial %d", ErrBundleSerial, sb.Bundle.Serial, cur.Serial)
	}
	if sb.Bundle.Previous != cur.Hash {
		prev := sb.Bundle.Previous
		if prev == "" {
			prev = "empty"
		}
		return fmt.Errorf("%w: previous is %s, the active bundle is %s", ErrBundlePrevious, prev, cur.Hash)
	}
	return nil
}

func bundlePolicy(sb *SignedBundle) (*Policy, error) {
	p, err := Parse(sb.Bundle.Policy)
	if err != nil {
		return nil, fmt.Errorf("%w (serial %d): %w", ErrBundlePolicy, sb.Bundle.Serial, err)
	}
	p.bundleHash = sb.Hash
	return p, nil
}

// BundlePolicy parses the policy inside an already accepted bundle (one
// read back from the broker's own store, say). It checks no signature: use
// VerifyBundle or PinBundle for a bundle not yet trusted. The policy's Hash
// is the bundle's hash.
func BundlePolicy(sb *SignedBundle) (*Policy, error) { return bundlePolicy(sb) }

// CheckBundleSignatures checks that at least k distinct admins of admins
// (its Admins, enabled, signing with one of their enrolled keys) made a
// valid SSHSIG over sb.Raw in namespace hwkey.PolicyNamespace. Other
// signatures are ignored when the quorum is met; otherwise the returned
// *BundleQuorumError lists them.
func CheckBundleSignatures(sb *SignedBundle, admins *Policy, k int) error {
	e := &BundleQuorumError{K: k}
	for i, c := range CheckEachSignature(sb, admins) {
		switch {
		case !c.Admin:
			e.NotAdmin = append(e.NotAdmin, c.Signer)
		case c.Err != nil:
			e.Invalid = append(e.Invalid, fmt.Sprintf("signature %d: %v", i+1, c.Err))
		case !slices.Contains(e.Valid, c.Signer):
			e.Valid = append(e.Valid, c.Signer)
		}
	}
	if len(e.Valid) >= k {
		return nil
	}
	return e
}

// SignatureCheck is the verdict on one signature of a bundle.
type SignatureCheck struct {
	// Signer is the principal whose enrolled key made the signature, or
	// "key SHA256:..." when the key is enrolled for nobody.
	Signer string
	// Admin reports whether Signer is one of the admins checked against.
	Admin bool
	// Err is nil when Signer is an enabled admin whose signature verifies.
	Err error
}

// SignerIDs returns the admins whose signatures verify, once each, in
// signature order.
func SignerIDs(checks []SignatureCheck) []string {
	var out []string
	for _, c := range checks {
		if c.Err == nil && !slices.Contains(out, c.Signer) {
			out = append(out, c.Signer)
		}
	}
	return out
}

// CheckEachSignature checks every signature of sb, in order, against the
// admins of admins (see CheckBundleSignatures).
func CheckEachSignature(sb *SignedBundle, admins *Policy) []SignatureCheck {
	out := make([]SignatureCheck, len(sb.Signatures))
	msg := hwkey.NewMessage(sb.Raw) // hashed once, however many signatures
	for i, sig := range sb.Signatures {
		pr, key, ok := admins.PrincipalByKey(sig.PublicKey)
		switch {
		case !ok:
			out[i] = SignatureCheck{Signer: "key " + ssh.FingerprintSHA256(sig.PublicKey), Err: errNotAdmin}
		case !admins.IsAdmin(pr.ID):
			out[i] = SignatureCheck{Signer: pr.ID, Err: errNotAdmin}
		case pr.Disabled:
			out[i] = SignatureCheck{Signer: pr.ID, Admin: true, Err: fmt.Errorf("admin %s is disabled", pr.ID)}
		default:
			out[i] = SignatureCheck{Signer: pr.ID, Admin: true}
			if _, err := hwkey.VerifyMessage(sig, key.PublicKey, hwkey.PolicyNamespace, msg); err != nil {
				out[i].Err = fmt.Errorf("%s's signature does not verify: %w", pr.ID, err)
			}
		}
	}
	return out
}

var errNotAdmin = errors.New("not an admin")

// SignBundle returns signer's armored signature over the bundle's canonical
// bytes, to append to the bundle file.
func SignBundle(b *Bundle, signer ssh.Signer) ([]byte, error) {
	enc, err := b.Encode()
	if err != nil {
		return nil, err
	}
	sig, err := hwkey.Sign(signer, hwkey.PolicyNamespace, enc)
	if err != nil {
		return nil, fmt.Errorf("sign bundle serial %d: %w", b.Serial, err)
	}
	return sig.Armor(), nil
}

// Info returns the identity of the bundle for the next VerifyBundle.
func (sb *SignedBundle) Info() BundleInfo {
	return BundleInfo{Serial: sb.Bundle.Serial, Hash: sb.Hash, Created: sb.Bundle.Created}
}
