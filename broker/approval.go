package broker

import "time"

// Approval is an approver's signature over a request's approval statement,
// or, with Kind KindDenial, over its denial statement.
type Approval struct {
	RequestID string
	Approver  string
	Kind      Kind
	// Statement is the exact text signed; Signature the armored SSHSIG.
	Statement []byte
	Signature []byte
	// KeyFingerprint names the enrolled key that signed; KeyType its type.
	KeyFingerprint string
	KeyType        string
	UserPresent    bool
	UserVerified   bool
	// Counter is a FIDO key's signature counter; CounterWarning is set when
	// it did not increase over the last one seen for that key, a sign of a
	// cloned key or a key that keeps no counter.
	Counter        uint32
	CounterWarning bool
	Created        time.Time
}
