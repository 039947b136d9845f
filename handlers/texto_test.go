package handlers_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jea/cliente/handlers"
)

// Addresses that are one address to a person are one address to the
// service: for uniqueness and for lookups.
func TestEmailNormalisationIsUnicodeDeep(t *testing.T) {
	for _, pair := range [][2]string{
		{"ſam@x.pe", "sam@x.pe"},         // long s folds to s
		{"σας@x.pe", "σας@X.PE"},         // final sigma, any case
		{"ΣΑΣ@x.pe", "σασ@x.pe"},         // capital sigma folds to σ, final or not
		{"eﬀe@x.pe", "effe@x.pe"},        // the ff ligature folds to ff
		{"nin\u0303o@x.pe", "niño@x.pe"}, // NFD and NFC
		{"STRAẞE@x.pe", "strasse@x.pe"},  // capital sharp s
		{"  Ana@Example.PE ", "ana@example.pe"},
	} {
		a, msgA := handlers.NormalizeEmail(pair[0])
		b, msgB := handlers.NormalizeEmail(pair[1])
		if msgA != "" || msgB != "" || a != b {
			t.Errorf("%q → %q (%s), %q → %q (%s): want one address", pair[0], a, msgA, pair[1], b, msgB)
		}
	}
	if _, msg := handlers.NormalizeEmail("ana\xff@x.pe"); msg == "" {
		t.Error("invalid UTF-8 accepted")
	}
}

func TestTextFieldsAreStoredInNFC(t *testing.T) {
	nfd := "Jose\u0301 Nin\u0303o"
	c, err := handlers.Validate(handlers.Datos{DNI: ptr("10117410"), Nombre: &nfd, Apellido: &nfd, Direccion: &nfd, Email: ptr("a@b.pe")})
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{c.Nombre, c.Apellido, c.Direccion} {
		if got != "José Niño" {
			t.Errorf("stored %q, want the NFC form", got)
		}
	}
}

func TestCheckJSONText(t *testing.T) {
	for _, tc := range []struct {
		body, fields string
	}{
		{`{"nombre":"Ana","email":"a@b.pe"}`, ""},
		{`{"nombre":"Ana \ud83d\ude00"}`, ""},                                    // a surrogate pair: one emoji
		{`{"nombre":"\\ud800"}`, ""},                                             // an escaped backslash, then text
		{`{"nombre":"Ana \ud800"}`, "nombre"},                                    // lone high surrogate
		{`{"nombre":"Ana \udc00", "apellido":"x"}`, "nombre"},                    // lone low surrogate
		{`{"nombre":"\ud800\u0041"}`, "nombre"},                                  // high followed by no low
		{"{\"direccion\":\"Av. \xff\",\"nombre\":\"\xc3\"}", "direccion,nombre"}, // invalid UTF-8
		{`[1,2]`, ""}, // not an object: the decoder's business
	} {
		err := handlers.CheckJSONText([]byte(tc.body))
		var got []string
		if err != nil {
			for _, f := range handlers.AsError(err).Fields {
				got = append(got, f.Field)
			}
		}
		if strings.Join(got, ",") != tc.fields || (err != nil && handlers.ErrorCode(err) != handlers.CodeInvalid) {
			t.Errorf("CheckJSONText(%q) = %v, want fields %q", tc.body, err, tc.fields)
		}
	}
}

func TestPalabrasAndPrefixMatch(t *testing.T) {
	got := handlers.Palabras("María José", "QUISPE-Huamán")
	if want := []string{"huaman", "jose", "maria", "quispe"}; !slices.Equal(got, want) {
		t.Fatalf("Palabras = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"maria qui", true}, {"MARÍA", true}, {"hua", true}, {"jose quispe maria", true},
		{"mario", false}, {"maria x", false}, {"uispe", false},
	} {
		if got := handlers.EmpiezaAlguna(handlers.Palabras("María José", "Quispe Huamán"), handlers.Palabras(tc.q)); got != tc.want {
			t.Errorf("%q matches = %v, want %v", tc.q, got, tc.want)
		}
	}
}
