package handlers_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jea/cliente/handlers"
)

func ptr[T any](v T) *T { return &v }

func valid() handlers.Datos {
	return handlers.Datos{
		DNI: ptr("10117410"), Nombre: ptr("Ana"), Apellido: ptr("Quispe"),
		Email: ptr("ana@example.pe"), Telefono: ptr("987654321"), Direccion: ptr("Av. Lima 1"),
	}
}

func fieldsOf(err error) []string {
	var e *handlers.Error
	if !errors.As(err, &e) {
		return nil
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*handlers.Datos)
		fields string // comma-separated invalid fields; "" means valid
		check  func(t *testing.T, c handlers.Campos)
	}{
		{name: "valid", edit: func(*handlers.Datos) {}, check: func(t *testing.T, c handlers.Campos) {
			if c.DNI != "10117410" || c.Telefono != "+51987654321" || c.Email != "ana@example.pe" {
				t.Errorf("normalised to %+v", c)
			}
		}},
		{name: "optional fields absent", edit: func(d *handlers.Datos) { d.Apellido, d.Telefono, d.Direccion = nil, nil, nil }},
		{name: "dni with check digit", edit: func(d *handlers.Datos) { d.DNI = ptr("10117410-2") },
			check: func(t *testing.T, c handlers.Campos) {
				if c.DNI != "10117410" {
					t.Errorf("dni %q", c.DNI)
				}
			}},
		{name: "dni with check letter", edit: func(d *handlers.Datos) { d.DNI = ptr("10117410-" + handlers.DNICheck("10117410", true)) }},
		{name: "dni lower-case check letter", edit: func(d *handlers.Datos) {
			d.DNI = ptr("10117410-" + strings.ToLower(handlers.DNICheck("10117410", true)))
		}},
		{name: "dni leading zeros kept", edit: func(d *handlers.Datos) { d.DNI = ptr("00012345") },
			check: func(t *testing.T, c handlers.Campos) {
				if c.DNI != "00012345" {
					t.Errorf("dni %q", c.DNI)
				}
			}},
		{name: "dni wrong check digit", edit: func(d *handlers.Datos) { d.DNI = ptr("10117410-3") }, fields: "dni"},
		{name: "dni two check chars", edit: func(d *handlers.Datos) { d.DNI = ptr("10117410-22") }, fields: "dni"},
		{name: "dni 9 digits", edit: func(d *handlers.Datos) { d.DNI = ptr("101174102") }, fields: "dni"},
		{name: "dni unicode digits", edit: func(d *handlers.Datos) { d.DNI = ptr("１０１１７４１０") }, fields: "dni"},
		{name: "email upper-case trimmed", edit: func(d *handlers.Datos) { d.Email = ptr("  Ana@Example.PE ") },
			check: func(t *testing.T, c handlers.Campos) {
				if c.Email != "ana@example.pe" {
					t.Errorf("email %q", c.Email)
				}
			}},
		{name: "email without domain dot", edit: func(d *handlers.Datos) { d.Email = ptr("ana@localhost") }, fields: "email"},
		{name: "email display name", edit: func(d *handlers.Datos) { d.Email = ptr("Ana <ana@example.pe>") }, fields: "email"},
		{name: "email two ats", edit: func(d *handlers.Datos) { d.Email = ptr("a@b@example.pe") }, fields: "email"},
		{name: "email too long", edit: func(d *handlers.Datos) { d.Email = ptr(strings.Repeat("a", 250) + "@example.pe") }, fields: "email"},
		{name: "nombre one char", edit: func(d *handlers.Datos) { d.Nombre = ptr(" A ") }, fields: "nombre"},
		{name: "nombre two accented chars", edit: func(d *handlers.Datos) { d.Nombre = ptr("Ñá") }},
		{name: "nombre too long", edit: func(d *handlers.Datos) { d.Nombre = ptr(strings.Repeat("n", 101)) }, fields: "nombre"},
		{name: "nombre control char", edit: func(d *handlers.Datos) { d.Nombre = ptr("An\x00a") }, fields: "nombre"},
		{name: "direccion too long", edit: func(d *handlers.Datos) { d.Direccion = ptr(strings.Repeat("d", 201)) }, fields: "direccion"},
		{name: "telefono foreign", edit: func(d *handlers.Datos) { d.Telefono = ptr("+34 612 345 678") },
			check: func(t *testing.T, c handlers.Campos) {
				if c.Telefono != "+34612345678" {
					t.Errorf("telefono %q", c.Telefono)
				}
			}},
		{name: "telefono blank is empty", edit: func(d *handlers.Datos) { d.Telefono = ptr("  ") }},
		{name: "telefono invalid", edit: func(d *handlers.Datos) { d.Telefono = ptr("123") }, fields: "telefono"},
		{name: "everything missing", edit: func(d *handlers.Datos) { *d = handlers.Datos{} }, fields: "dni,nombre,email"},
		{name: "required whitespace only", edit: func(d *handlers.Datos) { d.DNI, d.Nombre, d.Email = ptr(" "), ptr("\n"), ptr("\t") }, fields: "dni,nombre,email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := valid()
			tc.edit(&d)
			c, err := handlers.Validate(d)
			if got := strings.Join(fieldsOf(err), ","); got != tc.fields {
				t.Fatalf("invalid fields %q, want %q (err %v)", got, tc.fields, err)
			}
			if tc.fields != "" {
				if handlers.ErrorCode(err) != handlers.CodeInvalid {
					t.Fatalf("code %q, want invalid", handlers.ErrorCode(err))
				}
				return
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// The worked example of the DNI note, plus python-stdnum's tables.
func TestDNICheck(t *testing.T) {
	if got := handlers.DNICheck("10117410", false); got != "2" {
		t.Fatalf("check digit of 10117410 = %q, want 2", got)
	}
	// 3*1+2*0+7*1+6*1+5*7+4*4+3*1+2*0 = 70, 70 % 11 = 4: "KJIHGFEDCBA"[4].
	if got := handlers.DNICheck("10117410", true); got != "G" {
		t.Fatalf("check letter of 10117410 = %q, want G", got)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("10117410-2", "Ana", "ana@example.pe", "987654321")
	f.Add(" ", "", "a@b", "+")
	f.Add("1234567\u0660", "\xff\xfe", "Ana <a@b.pe>", "+51 (01) 555-1234 ext 9")
	f.Fuzz(func(t *testing.T, dni, nombre, email, tel string) {
		c, err := handlers.Validate(handlers.Datos{DNI: &dni, Nombre: &nombre, Email: &email, Telefono: &tel})
		if err != nil {
			if handlers.ErrorCode(err) != handlers.CodeInvalid || len(fieldsOf(err)) == 0 {
				t.Fatalf("validation error without invalid code or fields: %v", err)
			}
			return
		}
		// Whatever passes is normalised and idempotent under validation.
		if len(c.DNI) != 8 || c.Email != strings.ToLower(c.Email) || !utf8.ValidString(c.Nombre) {
			t.Fatalf("accepted %+v", c)
		}
		again, err := handlers.Validate(handlers.Datos{DNI: &c.DNI, Nombre: &c.Nombre, Email: &c.Email, Telefono: &c.Telefono})
		if err != nil || again != c {
			t.Fatalf("normalised value not stable: %+v -> %+v, %v", c, again, err)
		}
	})
}
