package handlers

import (
	"math/big"
	"strconv"
	"strings"

	"golang.org/x/text/currency"
)

// Importe is an amount of money, exactly: an integer count of its
// currency's minor units (céntimos for PEN). Floats never hold money here.
type Importe struct {
	Minor  int64
	Moneda string // ISO 4217 code, upper case
}

// maxIntegerDigits bounds the integer part of an amount so that it fits in
// int64 minor units with room for sums (10^15 × 10^3 < 2^63).
const maxIntegerDigits = 15

// Escala returns how many decimals moneda's amounts have (2 for PEN and
// USD, 0 for CLP and JPY), from the ISO 4217 data of golang.org/x/text.
func Escala(moneda string) (int, bool) {
	u, err := currency.ParseISO(moneda)
	if err != nil || u.String() != moneda {
		return 0, false
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale, true
}

// NormalizeMoneda upper-cases and checks an ISO 4217 code.
func NormalizeMoneda(s string) (string, string) {
	code := strings.ToUpper(strings.TrimSpace(s))
	if len(code) != 3 {
		return "", "must be an ISO 4217 currency code"
	}
	if _, ok := Escala(code); !ok {
		return "", "must be an ISO 4217 currency code"
	}
	return code, ""
}

// ParseImporte reads a non-negative decimal amount such as "149.90" in
// moneda, which must already be normalised. It accepts no sign, no
// exponent and no more decimals than the currency has, so that nothing is
// rounded silently.
func ParseImporte(text, moneda string) (Importe, string) {
	scale, ok := Escala(moneda)
	if !ok {
		return Importe{}, "has no valid currency"
	}
	intPart, frac, hasFrac := strings.Cut(text, ".")
	switch {
	case !allDigits(intPart) || (hasFrac && !allDigits(frac)):
		return Importe{}, "must be a non-negative decimal number such as 149.90"
	case len(strings.TrimLeft(intPart, "0")) > maxIntegerDigits:
		return Importe{}, "is too large"
	case len(frac) > scale:
		return Importe{}, "has more decimals than " + moneda + " allows (" + strconv.Itoa(scale) + ")"
	}
	digits := strings.TrimLeft(intPart+frac+strings.Repeat("0", scale-len(frac)), "0")
	if digits == "" {
		return Importe{Moneda: moneda}, ""
	}
	minor, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return Importe{}, "is too large"
	}
	return Importe{Minor: minor, Moneda: moneda}, ""
}

// String formats the amount with its currency's decimals: "149.90".
func (i Importe) String() string { return FormatMinor(i.Minor, i.Moneda) }

// FormatMinor formats minor units of moneda as a decimal string.
func FormatMinor(minor int64, moneda string) string {
	scale, _ := Escala(moneda)
	neg := minor < 0
	digits := strconv.FormatInt(minor, 10)
	if neg {
		digits = digits[1:]
	}
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// divRound returns num/den rounded half to even, for averages of minor
// units: the same rule a Java BigDecimal with HALF_EVEN gives.
func divRound(num, den int64) int64 {
	if den == 0 {
		return 0
	}
	q := new(big.Rat).SetFrac64(num, den)
	n, d := q.Num(), q.Denom()
	quo, rem := new(big.Int).QuoRem(n, d, new(big.Int))
	twice := new(big.Int).Mul(new(big.Int).Abs(rem), big.NewInt(2))
	switch c := twice.Cmp(d); {
	case c > 0, c == 0 && quo.Bit(0) == 1:
		if n.Sign() < 0 {
			quo.Sub(quo, big.NewInt(1))
		} else {
			quo.Add(quo, big.NewInt(1))
		}
	}
	return quo.Int64()
}
