package broker

import (
	"context"
	"errors"
	"fmt"
)

// KeyStager is the broker's signing keyring as RotateKey uses it: a
// rotation in two phases, so that it is audited before the new key signs
// anything.
type KeyStager interface {
	// StageKey prepares a new signing key. The key MUST NOT sign or be
	// published (JWKS) before Activate; the caller calls exactly one of
	// Activate and Discard, and the keyring may hold other rotations off
	// until then.
	StageKey() (StagedKey, error)
}

// StagedKey is a signing key prepared by a KeyStager.
type StagedKey interface {
	// KID is the new key's id; Retires the id of the key current until
	// Activate.
	KID() string
	Retires() string
	// Activate makes the key current. After an error the key MUST NOT
	// sign unless the error says it is current anyway.
	Activate() error
	// Discard abandons the key; the current key stays current.
	Discard() error
}

// KeyRotation is what RotateKey did: Old was current, New is.
type KeyRotation struct{ Old, New string }

// RotateKey makes a new signing key current, audited in the same step: it
// stages the key, commits its key.rotated entry (by actor, subjects [new
// kid], data {"old","new"}), and only then activates it. When the entry
// cannot be committed the staged key is discarded and the old key stays
// current, so no key signs whose rotation the log lacks. If activating
// fails after the commit, the log holds a rotation to a key that never
// signed anything, and the error says to rotate again.
//
// Errors: the keyring's staging error; the store's (ErrAuditUnavailable
// when the commit fails) joined with any discard error; or the activation
// error.
func (s *Service) RotateKey(ctx context.Context, keys KeyStager, actor string) (*KeyRotation, error) {
	staged, err := keys.StageKey()
	if err != nil {
		return nil, fmt.Errorf("rotate key: %w", err)
	}
	rot := &KeyRotation{Old: staged.Retires(), New: staged.KID()}
	err = s.recordOnly(ctx, Event{Type: EventKeyRotated, Actor: actor, Subjects: []string{rot.New},
		Data: mustJSON(map[string]string{"old": rot.Old, "new": rot.New})})
	if err != nil {
		if derr := staged.Discard(); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, fmt.Errorf("rotate key: %s stays the signing key, as the rotation could not be audited: %w", rot.Old, err)
	}
	if err := staged.Activate(); err != nil {
		return nil, fmt.Errorf("rotate key: the log records the rotation from %s to %s, but the new key could not be made current (rotate again): %w", rot.Old, rot.New, err)
	}
	s.cfg.Logger.Info("signing key rotated", "old", rot.Old, "new", rot.New, "by", actor)
	return rot, nil
}
