package handlers

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Text rules. Every text field is stored in NFC, so one name has one
// encoding; emails are compared and stored case-folded after NFC
// (NormalizeEmail); search compares folded words without accents.

// foldCase is Unicode full case folding: ſ→s, ς→σ, ß→ss, ﬀ→ff. A Caser
// keeps state, so each call makes its own.
func foldCase(s string) string { return cases.Fold().String(s) }

// sinAcentos removes combining marks after decomposition: "María" →
// "Maria", "ñ" → "n", for search only.
func sinAcentos(s string) string {
	out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	if err != nil {
		return s
	}
	return out
}

// Palabras are the search words of texts: case-folded, without accents,
// split at anything that is not a letter or a digit, unique and sorted.
// Stores keep them with each customer (from nombre and apellido) so that
// a search is an index lookup.
func Palabras(textos ...string) []string {
	var out []string
	for _, t := range textos {
		out = append(out, strings.FieldsFunc(foldCase(sinAcentos(t)), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		})...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// EmpiezaAlguna reports whether every word of consulta is a prefix of some
// word of palabras: how a search matches a customer.
func EmpiezaAlguna(palabras, consulta []string) bool {
	for _, q := range consulta {
		if !slices.ContainsFunc(palabras, func(p string) bool { return strings.HasPrefix(p, q) }) {
			return false
		}
	}
	return true
}

// CheckJSONText reports, as an invalid-request error naming each field,
// the members of the JSON object raw whose strings are not valid text:
// invalid UTF-8, or a \u escape of a lone surrogate. encoding/json would
// silently turn both into U+FFFD, storing other data than was sent.
// Anything that is not a JSON object is left to the decoder.
func CheckJSONText(raw []byte) error {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return nil
	}
	var v fieldErrors
	for name, value := range members {
		if !validJSONText(value) {
			v.add(name, "must be valid Unicode text (UTF-8, no lone surrogates)")
		}
	}
	if !utf8.Valid(raw) && len(v) == 0 {
		v.add("body", "must be valid UTF-8") // in a member name
	}
	slices.SortFunc(v, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	return v.err("the request has text that is not valid")
}

// validJSONText reports whether every string in the JSON value raw is
// valid UTF-8 with no lone surrogate escape.
func validJSONText(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			inString = !inString
		case inString && c == '\\' && i+1 < len(raw):
			if raw[i+1] != 'u' {
				i++ // an escaped character, maybe a quote
				continue
			}
			r, ok := hex4(raw, i+2)
			if !ok {
				return false
			}
			i += 5
			switch {
			case utf16.IsSurrogate(r) && r < 0xdc00: // high: a low must follow
				low, ok := hex4(raw, i+3)
				if i+2 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' || !ok || low < 0xdc00 || low > 0xdfff {
					return false
				}
				i += 6
			case utf16.IsSurrogate(r): // a low one alone
				return false
			}
		}
	}
	return true
}

// hex4 reads the 4 hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
}
