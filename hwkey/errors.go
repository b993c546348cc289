package hwkey

import "errors"

// Sentinel errors. Every error of this package wraps one of them with
// context; test with errors.Is.
var (
	// ErrMalformed means the input is not a well-formed SSHSIG signature.
	ErrMalformed = errors.New("malformed signature")
	// ErrWrongKey means the signature was made by another key than the
	// enrolled one.
	ErrWrongKey = errors.New("signed by a key other than the enrolled key")
	// ErrNamespace means the signature was made for another namespace.
	ErrNamespace = errors.New("wrong signature namespace")
	// ErrBadSignature means the cryptographic check failed: the message,
	// the signed fields or the signature bytes were changed.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrAlgorithm means a key type, signature algorithm or hash that this
	// package refuses (ssh-rsa SHA-1 signatures, short RSA keys, hashes
	// other than sha256/sha512, certificates, unsupported key types).
	ErrAlgorithm = errors.New("disallowed algorithm")
	// ErrNoPresence means a security-key signature lacks the user-presence
	// flag: nobody touched the key.
	ErrNoPresence = errors.New("security key signature without user presence")

	// ErrKeyFile means a key file cannot be used to sign directly
	// (passphrase-protected, a security-key file, a public key, unreadable).
	ErrKeyFile = errors.New("unusable key file")
	// ErrNoAgent means no ssh-agent could be reached.
	ErrNoAgent = errors.New("no ssh-agent")
	// ErrNoKeys means the ssh-agent holds no keys.
	ErrNoKeys = errors.New("ssh-agent holds no keys")
)
