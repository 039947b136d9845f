package main

// The web console in a real headless browser (Debian's chromium driven by
// chromedp) against this package's dev stack: customers and sales are
// seeded through the API and the sales topic, the page is opened with the
// dev stack's token, and every view is checked for what it draws, with a
// PNG screenshot of each. `make test-consola` installs chromium and runs
// it (CONSOLA_BROWSER=1); `make test` skips it.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/devissuer"
	"github.com/jea/cliente/handlers"
)

// browserProblems collects what a person would see go wrong in the
// browser: console errors and warnings, uncaught exceptions, failed and
// refused requests. allowed says which refused requests are expected
// (the audit trail answers 403 or 404 to whom may not see it).
type browserProblems struct {
	mu       sync.Mutex
	list     []string
	requests map[network.RequestID]string // id -> URL, for failures
	allowed  func(url string, status int64) bool
}

func (b *browserProblems) add(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list = append(b.list, fmt.Sprintf(format, args...))
}

// listen sees every event of the page's tab.
func (b *browserProblems) listen(ev any) {
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if ex := e.ExceptionDetails.Exception; ex != nil {
			msg += " " + ex.Description
		}
		b.add("exception: %s (%s:%d)", msg, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber)
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.add("console.%s: %s", e.Type, strings.Join(args, " "))
		}
	case *log.EventEntryAdded:
		// The browser's own log: CSP violations, failed loads. A refused
		// request that is allowed logs "Failed to load resource" too.
		if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
			if e.Entry.URL != "" && b.allowedURL(e.Entry.URL) && strings.Contains(e.Entry.Text, "Failed to load resource") {
				return
			}
			b.add("browser log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		b.mu.Lock()
		b.requests[e.RequestID] = e.Request.URL
		b.mu.Unlock()
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 && !b.allowed(e.Response.URL, e.Response.Status) {
			b.add("request %s: status %d", e.Response.URL, e.Response.Status)
		}
	case *network.EventLoadingFailed:
		b.mu.Lock()
		u := b.requests[e.RequestID]
		b.mu.Unlock()
		if e.Canceled && strings.HasPrefix(u, "blob:") {
			return // a CSV download's object URL, handed to the download manager
		}
		b.add("request %s failed: %s (blocked: %s)", u, e.ErrorText, e.BlockedReason)
	}
}

func (b *browserProblems) allowedURL(u string) bool { return b.allowed(u, 403) || b.allowed(u, 404) }

func (b *browserProblems) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.list
	b.list = nil
	return out
}

var auditoriaPath = regexp.MustCompile(`/cliente/\d+/auditoria$`)

// browser is one headless chromium tab, with the screenshots folder.
type browser struct {
	ctx       context.Context
	problems  *browserProblems
	shots     string
	downloads string // where the browser saves downloads
}

func newBrowser(t *testing.T) *browser {
	exe := os.Getenv("CONSOLA_CHROMIUM")
	if exe == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				exe = p
				break
			}
		}
	}
	if exe == "" {
		t.Fatal("no chromium found: make test-consola installs it (apt-get install chromium), or set CONSOLA_CHROMIUM")
	}
	shots := os.Getenv("CONSOLA_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join("testdata", "consola")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(shots, "fallo.png")) // a past run's
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "es-PE"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // chromium refuses to run as root with its sandbox
	}
	// One bound for the whole browser session.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	p := &browserProblems{requests: map[network.RequestID]string{}, allowed: func(u string, status int64) bool {
		pu, err := url.Parse(u)
		return err == nil && auditoriaPath.MatchString(pu.Path) && (status == 403 || status == 404)
	}}
	bctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithListener(p.listen))
	t.Cleanup(cancelTab)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", exe, err)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(bctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	return &browser{ctx: bctx, problems: p, shots: shots, downloads: downloads}
}

// do runs steps, failing the test (with a screenshot) on an error.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.screenshot(t, "fallo")
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into out.
func (b *browser) eval(t *testing.T, what, expr string, out any) {
	t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](expr))
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		b.screenshot(t, "fallo")
		t.Fatalf("%s: %v", what, err)
	}
}

// load runs steps that show a view and waits until the page says the
// view has all its data in place (its count of loaded views moves).
func (b *browser) load(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	// The page counts up from here, or from zero after a reload.
	var zero string
	b.eval(t, "zeroing the load count", `document.body.dataset.cargas = '0'`, &zero)
	b.do(t, what, steps...)
	b.waitFor(t, what, `Number(document.body.dataset.cargas || 0) > 0`)
}

// waitFor polls a JavaScript predicate for up to 20 s.
func (b *browser) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	b.do(t, "waiting for "+what, chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, t)
		return chromedp.Void{}, err
	}))
}

// screenshot writes the whole page as name.png.
func (b *browser) screenshot(t *testing.T, name string) {
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644)
	}
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// noProblems fails on anything the browser reported since the last call.
func (b *browser) noProblems(t *testing.T, step string) {
	t.Helper()
	for _, p := range b.problems.take() {
		t.Errorf("%s: %s", step, p)
	}
}

// tableText is the text of a table's body cells, row by row.
func (b *browser) tableText(t *testing.T, selector string) [][]string {
	t.Helper()
	var rows [][]string
	b.eval(t, "reading "+selector, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(tr =>
		Array.from(tr.children).map(td => td.textContent.trim()))`, selector+" tbody tr"), &rows)
	return rows
}

// seeded are the customers the console test creates: a search word only
// they have, their ids in creation order, and how many live where.
type seeded struct {
	tag     string
	ids     []int64
	byDep   map[string][]int64
	buyer   int64 // three PEN purchases, one cancelled
	sales   int   // the buyer's purchases
	deleted int64
}

func seedConsola(t *testing.T) seeded {
	t.Helper()
	s := seeded{tag: "zc" + strconv.FormatInt(runID%1_000_000_000, 36), byDep: map[string][]int64{}}
	people := []struct{ nombre, direccion, departamento, telefono string }{
		{"Rosa", "Jr. Junín 456 - Cusco", "Cusco", "987654321"},
		{"Luis", "Av. El Sol 210, Wanchaq, Cusco", "Cusco", "(01) 412-3456"},
		{"Carmen", "Calle Plateros 3, Cusco", "Cusco", ""},
		{"Jorge", "Pasaje Santa Ana 7 - Cusco", "Cusco", "984111222"},
		{"Ana", "Calle Real 12, Huancayo, Junín", "Junín", "964222333"},
		{"Pedro", "Av. Giráldez 300, Huancayo, Junín", "Junín", ""},
		{"María", "Av. Arequipa 123, Miraflores, Lima", "Lima", "987000111"},
		{"José", "Av. Brasil 2020, Jesús María, Lima", "Lima", "(01) 433-2211"},
		{"Lucía", "Calle Las Begonias 441, San Isidro, Lima", "Lima", "999888777"},
		{"Miguel", "Av. Larco 880, Miraflores, Lima", "Lima", ""},
		{"Sofía", "Jr. de la Unión 500, Lima", "Lima", "912345678"},
		{"Diego", "Kilómetro 5 de una trocha sin nombre", "", "923456789"},
	}
	for i, p := range people {
		body := newCliente(t)
		body["nombre"], body["apellido"], body["direccion"] = p.nombre, "Huamán "+strings.ToUpper(s.tag), p.direccion
		if p.telefono == "" {
			delete(body, "telefono")
		} else {
			body["telefono"] = p.telefono
		}
		c := create(t, body)
		s.ids = append(s.ids, c.ID)
		if p.departamento != "" {
			s.byDep[p.departamento] = append(s.byDep[p.departamento], c.ID)
		}
		if i == 5 {
			if r := do(t, "DELETE", fmt.Sprintf("/cliente/%d", c.ID), nil); r.status != 204 {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			s.deleted = c.ID
		}
	}
	s.buyer = s.ids[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	id := func(n string) string { return fmt.Sprintf("consola-%d-%s", runID, n) }
	err := salesWriter(t).Write(ctx,
		sale(id("r1"), s.buyer, now.Add(-72*time.Hour), "120.50", "PEN", 2),
		sale(id("r2"), s.buyer, now.Add(-48*time.Hour), "80.00", "PEN", 1),
		sale(id("r3"), s.buyer, now.Add(-24*time.Hour), "45.90", "PEN", 3),
		cancellation(id("r3"), s.buyer, now.Add(-23*time.Hour)),
		sale(id("l1"), s.ids[1], now.Add(-40*24*time.Hour), "300.00", "PEN", 5),
		sale(id("a1"), s.ids[4], now.Add(-10*24*time.Hour), "25.00", "USD", 1),
	)
	if err != nil {
		t.Fatal(err)
	}
	s.sales = 3
	eventually(t, 30*time.Second, func() error {
		if r := resumen(t, s.buyer); r.Compras != 2 || r.Anuladas != 1 {
			return fmt.Errorf("buyer's resumen %+v, want 2 purchases and 1 cancelled", r)
		}
		return nil
	})
	return s
}

func TestConsola(t *testing.T) {
	if os.Getenv("CONSOLA_BROWSER") == "" {
		t.Skip("the browser test runs in make test-consola (CONSOLA_BROWSER=1), which installs chromium")
	}
	s := seedConsola(t)
	b := newBrowser(t)

	// Signing in: the sign-in form, then the token pasted into it.
	b.do(t, "opening the console", chromedp.Navigate(apiBase+"/consola"), chromedp.WaitVisible(chromedp.ID("token")))
	b.screenshot(t, "acceso")
	b.load(t, "signing in", chromedp.SetValue(chromedp.ID("token"), devToken), chromedp.Click(chromedp.CSS(`#form-acceso button[type=submit]`)))
	b.waitFor(t, "the reports view", `!document.getElementById('vista-informes').hidden`)
	var stored string
	b.eval(t, "reading sessionStorage", `sessionStorage.getItem('consola.token')`, &stored)
	if stored != devToken {
		t.Fatalf("sessionStorage holds %d bytes, want the token", len(stored))
	}

	t.Run("informes", func(t *testing.T) { checkInformes(t, b, s) })
	t.Run("busqueda", func(t *testing.T) { checkBusqueda(t, b, s) })
	t.Run("cliente", func(t *testing.T) { checkCliente(t, b, s) })
	t.Run("sin permiso", func(t *testing.T) { checkSinPermiso(t, b, s) })
}

// chartData is what a Chart.js chart draws: its labels and each dataset.
type chartData struct {
	Labels   []string `json:"labels"`
	Datasets []struct {
		Label string    `json:"label"`
		Data  []float64 `json:"data"`
	} `json:"datasets"`
}

func (b *browser) chart(t *testing.T, canvasID string) chartData {
	t.Helper()
	var c chartData
	b.eval(t, "reading chart "+canvasID, fmt.Sprintf(`(() => { const c = Chart.getChart(%q);
		return c ? {labels: c.data.labels.map(String), datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))} : null; })()`, canvasID), &c)
	return c
}

// clickBar is a mouse click on the centre of a bar of a chart.
func (b *browser) clickBar(t *testing.T, canvasID string, dataset, index int) chromedp.Action[chromedp.Void] {
	t.Helper()
	var pt struct{ X, Y float64 }
	b.eval(t, "finding the bar", fmt.Sprintf(`(() => { const c = Chart.getChart(%q); c.canvas.scrollIntoView({block: 'center'});
		const p = c.getDatasetMeta(%d).data[%d].getCenterPoint(); const r = c.canvas.getBoundingClientRect();
		return {x: r.left + p.x, y: r.top + p.y}; })()`, canvasID, dataset, index), &pt)
	return chromedp.MouseClickXY(pt.X, pt.Y)
}

// series splits report rows into a chart's labels and one series per
// value.
func series[T any](rows []T, label func(T) string, values ...func(T) int64) ([]string, [][]int64) {
	labels, out := make([]string, len(rows)), make([][]int64, len(values))
	for i, r := range rows {
		labels[i] = label(r)
	}
	for j, v := range values {
		out[j] = make([]int64, len(rows))
		for i, r := range rows {
			out[j][i] = v(r)
		}
	}
	return labels, out
}

// wantChart checks that a chart draws exactly these labels (nil: any)
// and one dataset per series, in order.
func (b *browser) wantChart(t *testing.T, canvasID string, labels []string, series ...[]int64) {
	t.Helper()
	c := b.chart(t, canvasID)
	ok := len(c.Datasets) == len(series) && (labels == nil || slices.Equal(c.Labels, labels))
	for i := 0; ok && i < len(series); i++ {
		ok = len(c.Datasets[i].Data) == len(series[i])
		for j := 0; ok && j < len(series[i]); j++ {
			ok = c.Datasets[i].Data[j] == float64(series[i][j])
		}
	}
	if !ok {
		t.Errorf("chart %s draws %+v, want labels %v and data %v", canvasID, c, labels, series)
	}
}

func checkInformes(t *testing.T, b *browser, s seeded) {
	b.load(t, "opening the reports", chromedp.Navigate(apiBase+"/consola#/informes"), chromedp.Reload())

	// Each chart draws exactly what its report route answers, and that
	// holds the seeded customers.
	var adq handlers.ReporteAdquisicion
	getJSON(t, "/cliente/reportes/adquisicion", &adq)
	inicios, adqSeries := series(adq.Puntos, func(p handlers.PuntoAdquisicion) string { return p.Inicio },
		func(p handlers.PuntoAdquisicion) int64 { return p.Nuevos })
	b.wantChart(t, "grafico-adquisicion", inicios, adqSeries...)
	if nuevos := adqSeries[0]; len(nuevos) == 0 || nuevos[len(nuevos)-1] < int64(len(s.ids)) {
		t.Errorf("acquisition: this month %v, want at least the %d seeded", adqSeries, len(s.ids))
	}

	var ret handlers.ReporteRetencion
	getJSON(t, "/cliente/reportes/retencion", &ret)
	cohortes, retSeries := series(ret.Cohortes, func(c handlers.Cohorte) string { return c.Cohorte },
		func(c handlers.Cohorte) int64 { return c.Activos }, func(c handlers.Cohorte) int64 { return c.Inactivos })
	b.wantChart(t, "grafico-retencion", cohortes, retSeries...)
	// The cohort table: this month's cohort holds the seeded customers, and
	// its purchase columns say what the report says.
	thisMonth := time.Now().In(lima(t)).Format("2006-01")
	rows := b.tableText(t, "#tabla-retencion")
	i := slices.Index(cohortes, thisMonth)
	if i < 0 || len(rows) != len(cohortes) {
		t.Fatalf("retention table %v for cohorts %v, want a row each and %s among them", rows, cohortes, thisMonth)
	}
	co := ret.Cohortes[i]
	if row := rows[i]; row[0] != thisMonth || row[1] != strconv.FormatInt(co.Clientes, 10) || co.Clientes < int64(len(s.ids)) || co.Inactivos < 1 {
		t.Errorf("retention row %v of %+v, want the %d seeded, one inactive", row, co, len(s.ids))
	}
	for _, m := range co.Compras {
		if m.Mes == thisMonth && (len(rows[i]) < 5 || rows[i][4] != strconv.FormatInt(m.Compradores, 10)) {
			t.Errorf("retention row %v, want %d buyers in the month of registration", rows[i], m.Compradores)
		}
	}

	var geo handlers.ReporteGeografia
	getJSON(t, "/cliente/reportes/geografia", &geo)
	deps, geoSeries := series(geo.Departamentos, func(d handlers.GeoDepartamento) string { return d.Departamento },
		func(d handlers.GeoDepartamento) int64 { return d.Total }, func(d handlers.GeoDepartamento) int64 { return d.Activos })
	b.wantChart(t, "grafico-geografia", deps, geoSeries...)
	totales := geoSeries[0]
	for dep, ids := range s.byDep {
		if i := slices.Index(deps, dep); i < 0 || totales[i] < int64(len(ids)) {
			t.Errorf("geography: %s not drawn with its %d seeded customers: %v %v", dep, len(ids), deps, totales)
		}
	}
	var sinUbicar string
	b.eval(t, "reading sin ubicar", `document.getElementById('sin-ubicar').textContent`, &sinUbicar)
	if geo.SinUbicar.Total < 1 || !strings.Contains(sinUbicar, fmt.Sprintf(": %d clientes, %d activos", geo.SinUbicar.Total, geo.SinUbicar.Activos)) {
		t.Errorf("sin ubicar %q, report %+v (one seeded)", sinUbicar, geo.SinUbicar)
	}

	var can handlers.ReporteCanales
	getJSON(t, "/cliente/reportes/canales", &can)
	b.wantChart(t, "grafico-canales", []string{"Solo email", "Solo teléfono", "Email y teléfono", "Ninguno"},
		[]int64{can.SoloEmail, can.SoloTelefono, can.Ambos, can.Ninguno})
	tel := can.Telefonos
	b.wantChart(t, "grafico-telefonos", []string{"Móvil", "Fijo", "Otro"}, []int64{tel.Movil, tel.Fijo, tel.Otro})
	// Active seeded: 9 with a phone (7 mobile, 2 landline), 2 without.
	if can.Ambos < 9 || can.SoloEmail < 2 || tel.Movil < 7 || tel.Fijo < 2 {
		t.Errorf("channels %+v, want at least the seeded 9 both (7 mobile, 2 landline) and 2 email only", can)
	}

	var val handlers.ReporteValor
	getJSON(t, "/cliente/reportes/valor", &val)
	pen := slices.DeleteFunc(slices.Clone(val.Segmentos), func(sg handlers.SegmentoValor) bool { return sg.Moneda != "PEN" })
	segs, valSeries := series(pen, func(sg handlers.SegmentoValor) string { return sg.Segmento },
		func(sg handlers.SegmentoValor) int64 { return sg.Clientes })
	b.wantChart(t, "grafico-valor", nil, valSeries...) // labels are the segments' names for people
	if len(segs) < 2 {
		t.Errorf("value segments in PEN %v, want the seeded buyers' (two customers, of two kinds)", segs)
	}
	b.screenshot(t, "informes")

	// The CSV button saves what the route answers to Accept: text/csv.
	b.do(t, "downloading the geography CSV", chromedp.Click(chromedp.CSS(`button.csv[data-informe=geografia]`)))
	wantCSV := doWith(t, "GET", "/cliente/reportes/geografia", nil, map[string]string{"Accept": "text/csv"})
	var gotCSV []byte
	eventually(t, 20*time.Second, func() (err error) {
		gotCSV, err = os.ReadFile(filepath.Join(b.downloads, "geografia.csv"))
		return err
	})
	if wantCSV.status != 200 || string(gotCSV) != string(wantCSV.body) {
		t.Errorf("downloaded CSV:\n%s\nthe route answers %d:\n%s", gotCSV, wantCSV.status, wantCSV.body)
	}
	b.noProblems(t, "reports")

	// A bar is a way into the customers behind it: Cusco's, by mouse.
	i = slices.Index(deps, "Cusco")
	if i < 0 {
		t.Fatalf("no Cusco bar in %v", deps)
	}
	b.load(t, "clicking Cusco", b.clickBar(t, "grafico-geografia", 0, i))
	b.waitFor(t, "the list filtered by departamento", `location.hash === '#/clientes?departamento=Cusco' && !document.getElementById('vista-clientes').hidden`)
	got := map[string]bool{}
	for _, r := range b.tableText(t, "#tabla-clientes") {
		got[r[0]] = true
		if !strings.Contains(r[5], "Cusco") {
			t.Errorf("departamento=Cusco lists %v", r)
		}
	}
	for _, id := range s.byDep["Cusco"] {
		if !got[strconv.FormatInt(id, 10)] {
			t.Errorf("departamento=Cusco does not list seeded customer %d: %v", id, got)
		}
	}
	b.screenshot(t, "clientes-departamento")

	// This month's inactive customers, from the cohort's second bar.
	b.load(t, "back to the reports", chromedp.Navigate(apiBase+"/consola#/informes"))
	b.load(t, "clicking this month's inactive", b.clickBar(t, "grafico-retencion", 1, slices.Index(cohortes, thisMonth)))
	desde, _ := time.Parse("2006-01", thisMonth)
	want := fmt.Sprintf("#/clientes?registradoDesde=%s&registradoHasta=%s&activo=false",
		desde.Format(time.DateOnly), desde.AddDate(0, 1, -1).Format(time.DateOnly))
	b.waitFor(t, "the cohort's inactive customers", fmt.Sprintf(`location.hash === %q`, want))
	inactive := b.tableText(t, "#tabla-clientes")
	if !slices.ContainsFunc(inactive, func(r []string) bool { return r[0] == strconv.FormatInt(s.deleted, 10) }) ||
		slices.ContainsFunc(inactive, func(r []string) bool { return r[7] != "Inactivo" }) {
		t.Errorf("this month's inactive customers %v, want the deleted %d and no active one", inactive, s.deleted)
	}

	// And a value segment's bar: the buyer's.
	b.load(t, "back to the reports", chromedp.Navigate(apiBase+"/consola#/informes"))
	seg := segmentOf(t, s.buyer, segs)
	b.load(t, "clicking the buyer's segment", b.clickBar(t, "grafico-valor", 0, slices.Index(segs, seg)))
	want = "#/clientes?segmento=" + url.QueryEscape(seg) + "&moneda=PEN"
	b.waitFor(t, "the list filtered by segment", fmt.Sprintf(`location.hash === %q`, want))
	if !slices.ContainsFunc(b.tableText(t, "#tabla-clientes"), func(r []string) bool { return r[0] == strconv.FormatInt(s.buyer, 10) }) {
		t.Errorf("segment %s does not list the buyer %d", seg, s.buyer)
	}
	b.noProblems(t, "clicking bars")
}

// segmentOf finds, through the API, which of the PEN segments lists id.
func segmentOf(t *testing.T, id int64, segs []string) string {
	t.Helper()
	for _, sg := range segs {
		var page []handlers.Cliente
		getJSON(t, "/cliente?"+url.Values{"segmento": {sg}, "moneda": {"PEN"}, "limite": {"1000"}}.Encode(), &page)
		if slices.ContainsFunc(page, func(c handlers.Cliente) bool { return c.ID == id }) {
			return sg
		}
	}
	t.Fatalf("customer %d is in none of the PEN segments %v", id, segs)
	return ""
}

func checkBusqueda(t *testing.T, b *browser, s seeded) {
	b.load(t, "opening the search", chromedp.Navigate(apiBase+"/consola#/clientes"))
	b.load(t, "searching", chromedp.SetValue(chromedp.CSS(`#form-buscar input[name=q]`), s.tag),
		chromedp.SetValue(chromedp.CSS(`#form-buscar select[name=limite]`), "10"),
		chromedp.Click(chromedp.CSS(`#form-buscar button[type=submit]`)))
	page := func(n int) []string {
		var numero string
		b.eval(t, "reading the page number", `document.getElementById('pagina-numero').textContent`, &numero)
		if want := fmt.Sprintf("Página %d", n); numero != want {
			t.Errorf("the page says %q, want %q", numero, want)
		}
		var ids []string
		for _, r := range b.tableText(t, "#tabla-clientes") {
			ids = append(ids, r[0])
		}
		return ids
	}
	var want []string
	for _, id := range s.ids {
		want = append(want, strconv.FormatInt(id, 10))
	}
	first := page(1)
	b.screenshot(t, "clientes")
	var disabled bool
	b.eval(t, "reading Siguiente", `document.getElementById('pagina-siguiente').disabled`, &disabled)
	if !slices.Equal(first, want[:10]) || disabled {
		t.Fatalf("page 1 %v (Siguiente disabled %v), want %v and a next page", first, disabled, want[:10])
	}
	b.load(t, "next page", chromedp.Click(chromedp.ID("pagina-siguiente")))
	second := page(2)
	b.eval(t, "reading Siguiente", `document.getElementById('pagina-siguiente').disabled`, &disabled)
	if !slices.Equal(second, want[10:]) || !disabled {
		t.Errorf("page 2 %v (Siguiente disabled %v), want %v and no next page", second, disabled, want[10:])
	}
	b.load(t, "previous page", chromedp.Click(chromedp.ID("pagina-anterior")))
	if again := page(1); !slices.Equal(again, want[:10]) {
		t.Errorf("back on page 1: %v, want %v", again, want[:10])
	}
	b.noProblems(t, "search")
}

func checkCliente(t *testing.T, b *browser, s seeded) {
	// From the list, as a person would: the buyer's row links to the page.
	b.load(t, "opening the buyer", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#tabla-clientes a[href="#/cliente/%d"]`, s.buyer))))
	c := get(t, fmt.Sprintf("/cliente/%d", s.buyer))
	var perfil map[string]string
	b.eval(t, "reading the profile", `Object.fromEntries(Array.from(document.querySelectorAll('#cliente-perfil dt')).map(dt => [dt.textContent, dt.nextElementSibling.textContent]))`, &perfil)
	for k, v := range map[string]string{"DNI": c.DNI, "Email": c.Email, "Dirección": c.Direccion, "Estado": "Activo", "Nombre": c.Nombre} {
		if perfil[k] != v {
			t.Errorf("profile %s %q, want %q (%v)", k, perfil[k], v, perfil)
		}
	}
	var resumen map[string]string
	b.eval(t, "reading the summary", `Object.fromEntries(Array.from(document.querySelectorAll('#cliente-resumen dt')).map(dt => [dt.textContent, dt.nextElementSibling.textContent]))`, &resumen)
	if resumen["Compras"] != "2" || resumen["Anuladas"] != "1" {
		t.Errorf("summary %v, want 2 purchases, 1 cancelled", resumen)
	}
	if rows := b.tableText(t, "#cliente-resumen table"); len(rows) != 1 || rows[0][0] != "PEN" || rows[0][2] != "200.50" {
		t.Errorf("summary per currency %v, want PEN 200.50 spent", rows)
	}
	rows := b.tableText(t, "#cliente-compras table")
	var totals []string
	for _, r := range rows {
		totals = append(totals, r[2]+" "+r[5])
	}
	if !slices.Equal(totals, []string{"45.90 Anulada", "80.00 Vigente", "120.50 Vigente"}) {
		t.Errorf("purchase history %v, want the three, newest first, the last cancelled", rows)
	}
	// The audit trail shows when the API lets this token see it.
	r := do(t, "GET", fmt.Sprintf("/cliente/%d/auditoria", s.buyer), nil)
	var hidden bool
	b.eval(t, "reading the audit section", `document.getElementById('cliente-auditoria').hidden`, &hidden)
	if hidden != (r.status == 403 || r.status == 404) {
		t.Errorf("audit section hidden %v, while the route answers %d", hidden, r.status)
	}
	if r.status == 200 {
		// One row per entry of the page: the route answers a page object
		// holding the list (or the list itself).
		var page map[string]json.RawMessage
		var entries []json.RawMessage
		if json.Unmarshal(r.body, &entries) != nil && json.Unmarshal(r.body, &page) == nil {
			for _, v := range page {
				if json.Unmarshal(v, &entries) == nil && entries != nil {
					break
				}
			}
		}
		if rows := b.tableText(t, "#cliente-auditoria table"); len(entries) == 0 || len(rows) != len(entries) {
			t.Errorf("audit table %v, the route answers %d entries: %s", rows, len(entries), r.body)
		}
	}
	b.screenshot(t, "cliente")
	b.noProblems(t, "customer page")
}

// A reader without the sales or admin scopes sees the profile, is told
// the purchases are not for them, and sees no audit section.
func checkSinPermiso(t *testing.T, b *browser, s seeded) {
	iss, info, err := devissuer.Open(stackValue(t, "DEV_DATA_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := iss.Mint(devissuer.Claims{Subject: "consola", ClientID: "consola", Audience: info.Audience, Scopes: []string{auth.ScopeLeer}, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The purchases answer 403 to this token, on purpose.
	b.problems.allowed = func(u string, status int64) bool {
		return status == 403 || (status == 404 && auditoriaPath.MatchString(u))
	}
	b.do(t, "signing out", chromedp.Click(chromedp.ID("salir")), chromedp.WaitVisible(chromedp.ID("token")))
	// A link to the buyer's page, followed signed out, shows it once signed in.
	b.do(t, "following a link to the buyer", chromedp.Navigate(apiBase+fmt.Sprintf("/consola#/cliente/%d", s.buyer)), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("token")))
	b.load(t, "signing in as a reader", chromedp.SetValue(chromedp.ID("token"), reader), chromedp.Click(chromedp.CSS(`#form-acceso button[type=submit]`)))
	var view struct {
		DNI, Compras string
		Auditoria    bool
	}
	b.eval(t, "reading the page", `({dni: Array.from(document.querySelectorAll('#cliente-perfil dt')).find(dt => dt.textContent === 'DNI').nextElementSibling.textContent,
		compras: document.querySelector('#cliente-compras .error').textContent,
		auditoria: document.getElementById('cliente-auditoria').hidden})`, &view)
	if c := get(t, fmt.Sprintf("/cliente/%d", s.buyer)); view.DNI != c.DNI || !strings.Contains(view.Compras, "no permite") || !view.Auditoria {
		t.Errorf("reader's view %+v, want DNI %s, the purchases refused and no audit section", view, c.DNI)
	}
	b.screenshot(t, "cliente-lector")
	b.noProblems(t, "reader")
}

func getJSON(t *testing.T, path string, out any) {
	t.Helper()
	r := do(t, "GET", path, nil)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	r.json(t, out)
}

func lima(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("America/Lima")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
