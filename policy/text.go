package policy

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxCombiningRun is the longest run of combining marks CheckText accepts
// on one base character: enough for the scripts people write reasons in
// (Vietnamese stacks two, some Indic clusters three), far too few to pile
// marks over neighbouring text.
const MaxCombiningRun = 3

// CheckText is the one check for human text that enters a statement or the
// policy (reasons, denial reasons, incidents, names): what is signed must
// read as it is shown. It refuses invalid UTF-8; anything that breaks or
// ends a line; control characters (Cc) and format characters (Cf: the
// bidirectional overrides and isolates such as U+202E, zero-width spaces
// and joiners, the soft hyphen); invisible fillers that render as nothing
// or as blank space (the Hangul fillers, the Braille blank, the combining
// grapheme joiner); spaces other than the plain U+0020 (wide and
// ideographic spaces pad text into looking like other fields); and runs of
// more than MaxCombiningRun combining marks.
func CheckText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	run := 0
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			return fmt.Errorf("contains the invisible or line-breaking character %U", r)
		case invisibleFiller(r):
			return fmt.Errorf("contains the invisible filler %U", r)
		case r != ' ' && unicode.Is(unicode.Zs, r):
			return fmt.Errorf("contains the space character %U: use a plain space", r)
		}
		if unicode.In(r, unicode.Mn, unicode.Me) {
			if run++; run > MaxCombiningRun {
				return fmt.Errorf("contains more than %d combining marks in a row (%U)", MaxCombiningRun, r)
			}
		} else {
			run = 0
		}
	}
	return nil
}

// invisibleFiller reports letters and marks that render as blank: Unicode
// calls them default-ignorable or fillers, but gives them categories (Lo,
// So, Mn) that a category test lets through.
func invisibleFiller(r rune) bool {
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, // Hangul choseong/jungseong/compatibility/halfwidth fillers
		0x2800,         // Braille pattern blank
		0x034F,         // combining grapheme joiner
		0x17B4, 0x17B5: // Khmer inherent vowels
		return true
	}
	// The supplementary variation selectors (U+E0100-E01EF) change no glyph
	// in a reason and can carry hidden bytes, one per character.
	return r >= 0xE0100 && r <= 0xE01EF
}
