package handlers

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"
)

// Length limits keep one customer document small and bounded.
const (
	maxNombre    = 100
	maxDireccion = 200
	maxEmail     = 254 // RFC 5321 path limit
	minNombre    = 2   // what the original service's form required
)

// phoneRegion is the region assumed for numbers written without a country
// prefix: the service's customers are in Peru.
const phoneRegion = "PE"

// Validate checks and normalises the editable fields of d. It reports every
// problem at once, one FieldError per field, as an *Error with CodeInvalid.
func Validate(d Datos) (Campos, error) {
	var (
		c Campos
		v fieldErrors
	)

	if d.DNI == nil || strings.TrimSpace(*d.DNI) == "" {
		v.add("dni", "is required")
	} else if dni, msg := NormalizeDNI(*d.DNI); msg != "" {
		v.add("dni", msg)
	} else {
		c.DNI = dni
	}

	if d.Nombre == nil || strings.TrimSpace(*d.Nombre) == "" {
		v.add("nombre", "is required")
	} else {
		c.Nombre = norm.NFC.String(strings.TrimSpace(*d.Nombre))
		if msg := checkText(c.Nombre, minNombre, maxNombre); msg != "" {
			v.add("nombre", msg)
		}
	}

	if d.Apellido != nil {
		c.Apellido = norm.NFC.String(strings.TrimSpace(*d.Apellido))
		if msg := checkText(c.Apellido, 0, maxNombre); msg != "" {
			v.add("apellido", msg)
		}
	}

	if d.Email == nil || strings.TrimSpace(*d.Email) == "" {
		v.add("email", "is required")
	} else if email, msg := NormalizeEmail(*d.Email); msg != "" {
		v.add("email", msg)
	} else {
		c.Email = email
	}

	if d.Telefono != nil && strings.TrimSpace(*d.Telefono) != "" {
		if tel, msg := NormalizeTelefono(*d.Telefono); msg != "" {
			v.add("telefono", msg)
		} else {
			c.Telefono = tel
		}
	}

	if d.Direccion != nil {
		c.Direccion = norm.NFC.String(strings.TrimSpace(*d.Direccion))
		if msg := checkText(c.Direccion, 0, maxDireccion); msg != "" {
			v.add("direccion", msg)
		}
	}

	if err := v.err("the customer data is not valid"); err != nil {
		return Campos{}, err
	}
	return c, nil
}

func checkText(s string, minRunes, maxRunes int) string {
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case n < minRunes:
		return "is too short"
	case n > maxRunes:
		return "is too long"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}

// dniWeights and the two check tables follow python-stdnum's pe/cui.py.
var dniWeights = [8]int{3, 2, 7, 6, 5, 4, 3, 2}

const (
	dniCheckDigits  = "65432110987"
	dniCheckLetters = "KJIHGFEDCBA"
)

// NormalizeDNI accepts a Peruvian DNI as 8 digits, optionally followed by a
// hyphen and the card's check character, which is verified and dropped. It
// returns the 8 digits, or a message saying what is wrong.
func NormalizeDNI(s string) (string, string) {
	s = strings.TrimSpace(s)
	digits, check, hasCheck := strings.Cut(s, "-")
	if len(digits) != 8 || !allDigits(digits) {
		return "", "must be 8 digits"
	}
	if hasCheck {
		if len(check) != 1 {
			return "", "check character must be one digit or letter"
		}
		if !strings.EqualFold(check, DNICheck(digits, false)) && !strings.EqualFold(check, DNICheck(digits, true)) {
			return "", "check character does not match the number"
		}
	}
	return digits, ""
}

// DNICheck returns the check digit (letter=false) or check letter of an
// 8-digit DNI. It panics if digits is not 8 ASCII digits.
func DNICheck(digits string, letter bool) string {
	if len(digits) != 8 || !allDigits(digits) {
		panic("DNICheck: not 8 digits")
	}
	sum := 0
	for i, w := range dniWeights {
		sum += int(digits[i]-'0') * w
	}
	c := sum % 11
	if letter {
		return dniCheckLetters[c : c+1]
	}
	return dniCheckDigits[c : c+1]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// NormalizeEmail trims an address, puts it in NFC and case-folds it (full
// Unicode folding: "ſam@x.pe" is "sam@x.pe", "NIÑO@x.pe" in NFD is
// "niño@x.pe"), and checks it is a bare addr-spec with a dotted domain.
// Storing and comparing only this form is what makes the unique index, and
// lookups, blind to letter case and encoding.
func NormalizeEmail(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", "must be valid UTF-8"
	}
	s = norm.NFC.String(foldCase(norm.NFC.String(strings.TrimSpace(s))))
	if len(s) > maxEmail {
		return "", "is too long"
	}
	addr, err := mail.ParseAddress(s)
	// ParseAddress also accepts "Name <a@b>"; only the bare form is an email.
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", "must be a valid email address"
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", "must be a valid email address"
	}
	// .invalid never exists (RFC 6761); anonymised customers' placeholders
	// live there (DominioAnonimo).
	if strings.HasSuffix(domain, ".invalid") {
		return "", "must be a deliverable email address"
	}
	return s, ""
}

// NormalizeTelefono parses a phone number (Peruvian unless it carries a
// country prefix) and returns it in E.164 form.
func NormalizeTelefono(s string) (string, string) {
	s = strings.TrimSpace(s)
	if len(s) > 32 {
		return "", "is too long"
	}
	num, err := phonenumbers.Parse(s, phoneRegion)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", "must be a valid phone number"
	}
	return phonenumbers.Format(num, phonenumbers.E164), ""
}
