package ubigeo_test

import (
	"testing"

	"github.com/jea/cliente/handlers/ubigeo"
)

func TestUbicar(t *testing.T) {
	cat := ubigeo.New()
	sinUbicar := ubigeo.Lugar{}
	for _, tc := range []struct {
		direccion string
		want      ubigeo.Lugar
	}{
		{"Av. Arequipa 123, Miraflores, Lima", ubigeo.Lugar{"Lima", "Lima"}},
		{"Jr. Junín 456 - Cusco", ubigeo.Lugar{"Cusco", "Cusco"}},
		{"Calle Real 12, Huancayo, Junín", ubigeo.Lugar{"Junín", "Huancayo"}},
		{"CALLE REAL 12 HUANCAYO", ubigeo.Lugar{"Junín", "Huancayo"}},
		{"av. la marina 2000, san miguel, lima 15087", ubigeo.Lugar{"Lima", "Lima"}},
		{"Av. Ejército 101, Cayma, Arequipa", ubigeo.Lugar{"Arequipa", "Arequipa"}},
		{"Jr. Lima 300, Puno", ubigeo.Lugar{"Puno", "Puno"}},
		{"Av. Larco 1150, Trujillo, La Libertad", ubigeo.Lugar{"La Libertad", "Trujillo"}},
		{"Mz. B Lt. 7 Urb. Los Olivos, Piura", ubigeo.Lugar{"Piura", "Piura"}},
		{"Av. Javier Prado Este 4200, Santiago de Surco", ubigeo.Lugar{"Lima", "Lima"}},
		{"Calle Los Laureles 45, Cercado de Lima", ubigeo.Lugar{"Lima", "Lima"}},
		{"Av. Sáenz Peña 250, Callao", ubigeo.Lugar{"Callao", "Callao"}},
		{"Jr. Progreso 88, Tarapoto, San Martín", ubigeo.Lugar{"San Martín", "San Martín"}},
		{"Av. Bolognesi 500, Tacna, Perú", ubigeo.Lugar{"Tacna", "Tacna"}},
		{"Psje. Las Flores 3, Chiclayo - Lambayeque", ubigeo.Lugar{"Lambayeque", "Chiclayo"}},
		{"Av. Grau 800, Iquitos, Maynas, Loreto", ubigeo.Lugar{"Loreto", "Maynas"}},
		{"Jr. Amazonas 12, Huaraz, Áncash", ubigeo.Lugar{"Áncash", "Huaraz"}},
		{"Calle Principal s/n, Áncash", ubigeo.Lugar{Departamento: "Áncash"}},
		{"jesus maria, LIMA", ubigeo.Lugar{"Lima", "Lima"}},
		// Ambiguous: there are Miraflores in Lima, Arequipa, Huánuco and
		// Yauyos; a San Juan in many provincias.
		{"Av. Los Pinos 45, Miraflores", sinUbicar},
		{"Calle Los Pinos 45, San Juan", sinUbicar},
		// Not placeable.
		{"Av. Siempre Viva 742, Springfield", sinUbicar},
		{"", sinUbicar},
		{"Av. Arequipa 123", sinUbicar},
	} {
		got, ok := cat.Ubicar(tc.direccion)
		if got != tc.want || ok != (tc.want != sinUbicar) {
			t.Errorf("Ubicar(%q) = %+v, %v; want %+v", tc.direccion, got, ok, tc.want)
		}
	}
}

func TestDepartamento(t *testing.T) {
	cat := ubigeo.New()
	if n := len(cat.Departamentos()); n != 25 {
		t.Fatalf("%d departamentos, want 25", n)
	}
	for in, want := range map[string]string{"junin": "Junín", "JUNÍN": "Junín", "madre de  dios": "Madre de Dios", "Apurimac": "Apurímac"} {
		if got, ok := cat.Departamento(in); !ok || got != want {
			t.Errorf("Departamento(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := cat.Departamento("Springfield"); ok {
		t.Error("Departamento(Springfield) found")
	}
}
