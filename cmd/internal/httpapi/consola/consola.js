// The customer console: plain JavaScript over the same HTTP API every
// other client uses, with the bearer token the person pastes in. Views are
// chosen by the URL's fragment (#/informes, #/clientes?…, #/cliente/7), so
// the browser's back button and links work and the edge serves one page.
// The DOM is built with createElement and textContent only: nothing the
// API returns is ever parsed as HTML.
(function () {
  'use strict';

  var TOKEN_KEY = 'consola.token';
  var TIMEOUT_MS = 15000; // every call to the API is bounded
  var ZONA = 'America/Lima';
  var LIST_PARAMS = ['q', 'activo', 'departamento', 'segmento', 'moneda',
    'registradoDesde', 'registradoHasta', 'limite', 'cursor'];
  var COLORES = { principal: '#1f5f8b', secundario: '#e07b39', suave: '#9bbcd4' };

  var numero = new Intl.NumberFormat('es-PE');
  var fechaHora = new Intl.DateTimeFormat('es-PE', { dateStyle: 'medium', timeStyle: 'short', timeZone: ZONA });

  var state = {
    charts: {},        // canvas id -> Chart
    informes: {},      // report name -> last JSON answer
    paginas: [],       // hashes of the customer list pages visited, for "Anterior"
    compras: null      // the next page of the shown customer's purchases
  };

  // ---------------------------------------------------------------- DOM

  function $(sel, root) { return (root || document).querySelector(sel); }

  // el builds an element: el('td', {className: 'x'}, 'text', childNode).
  function el(tag, props) {
    var e = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k in e) {
          e[k] = props[k];
        } else {
          e.setAttribute(k, props[k]);
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // table fills a <table> with a header row and body rows; a cell is text
  // or a node.
  function fillTable(table, caption, headers, rows) {
    clear(table);
    if (caption) table.appendChild(el('caption', null, caption));
    var tr = el('tr');
    headers.forEach(function (h) { tr.appendChild(el('th', { scope: 'col' }, h)); });
    table.appendChild(el('thead', null, tr));
    var body = el('tbody');
    rows.forEach(function (r) {
      var row = el('tr');
      r.forEach(function (cell, i) { row.appendChild(el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : null, cell)); });
      body.appendChild(row);
    });
    table.appendChild(body);
    return table;
  }

  function fillDl(dl, pairs) {
    clear(dl);
    pairs.forEach(function (p) {
      dl.appendChild(el('dt', null, p[0]));
      dl.appendChild(el('dd', null, p[1] === null || p[1] === undefined || p[1] === '' ? '—' : p[1]));
    });
  }

  function setError(scope, msg) {
    var p = $(':scope > .error', scope) || $('.error', scope);
    if (p) p.textContent = msg || '';
  }

  function status(msg) { $('#estado').textContent = msg || ''; }

  function link(hash, text) { return el('a', { href: hash }, text); }

  // ---------------------------------------------------------------- API

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  // ApiError carries the HTTP status and the problem+json detail.
  function ApiError(status, detail) {
    this.status = status;
    this.message = detail;
  }
  ApiError.prototype = Object.create(Error.prototype);

  // api calls the edge with the token and returns {body, headers}; a 401
  // sends the person back to the sign-in form.
  function api(path, accept) {
    return fetch(path, {
      headers: { 'Authorization': 'Bearer ' + token(), 'Accept': accept || 'application/json' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
      cache: 'no-store'
    }).then(function (resp) {
      var isJSON = /json/.test(resp.headers.get('Content-Type') || '');
      var body = isJSON ? resp.json() : resp.text();
      return body.then(function (b) {
        if (resp.ok) return { body: b, headers: resp.headers };
        var detail = (b && (b.detail || b.title)) || resp.statusText;
        if (b && b.errors && b.errors.length) {
          detail += ': ' + b.errors.map(function (e) { return e.field + ' ' + e.message; }).join('; ');
        }
        if (resp.status === 401) signOut('El token no es válido o venció: ' + detail);
        throw new ApiError(resp.status, detail);
      });
    }, function (err) {
      var msg = err && err.name === 'TimeoutError' ? 'la API no respondió a tiempo' : 'no se pudo llamar a la API';
      throw new ApiError(0, msg);
    });
  }

  // nextLink is the target of a Link: <…>; rel="next" header, or "".
  function nextLink(headers) {
    var h = headers.get('Link') || '';
    var parts = h.split(',');
    for (var i = 0; i < parts.length; i++) {
      var m = /<([^>]*)>\s*;.*rel="?next"?/.exec(parts[i]);
      if (m) return m[1];
    }
    return '';
  }

  // ---------------------------------------------------------------- routing

  var TITULOS = { acceso: 'Acceso', informes: 'Informes', clientes: 'Clientes', cliente: 'Cliente' };

  function showView(name) {
    document.querySelectorAll('.vista').forEach(function (v) { v.hidden = v.id !== 'vista-' + name; });
    document.title = TITULOS[name] + ' · Consola de clientes';
    document.querySelectorAll('#navegacion a').forEach(function (a) {
      if (a.dataset.vista === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    var signedIn = name !== 'acceso';
    $('#navegacion').hidden = !signedIn;
    $('#salir').hidden = !signedIn;
  }

  function route() {
    status('');
    if (!token()) {
      showView('acceso');
      $('#token').focus();
      return;
    }
    var hash = location.hash.replace(/^#/, '') || '/informes';
    var path = hash.split('?')[0];
    var query = new URLSearchParams(hash.indexOf('?') >= 0 ? hash.slice(hash.indexOf('?') + 1) : '');
    var m, loading;
    if (path === '/informes') {
      showView('informes');
      loading = loadInformes();
    } else if (path === '/clientes') {
      showView('clientes');
      loading = loadClientes(query);
    } else if ((m = /^\/cliente\/(\d+)$/.exec(path))) {
      showView('cliente');
      loading = loadCliente(m[1]);
    } else {
      location.hash = '#/informes';
      return;
    }
    // Count the views shown with all their data (or errors) in place: a
    // test driving the page waits for the count to move.
    loading.then(function () {
      document.body.dataset.cargas = String(Number(document.body.dataset.cargas || 0) + 1);
    });
  }

  function signOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    Object.keys(state.charts).forEach(function (k) { state.charts[k].destroy(); });
    state.charts = {};
    state.informes = {};
    showView('acceso');
    $('#acceso-error').textContent = msg || '';
  }

  // ---------------------------------------------------------------- charts

  // drawChart draws (or redraws) a Chart.js chart on a canvas, with a
  // summary for screen readers; onBar(index, datasetIndex) makes bars
  // clickable.
  function drawChart(canvasId, config, summary, onBar) {
    var canvas = document.getElementById(canvasId);
    if (state.charts[canvasId]) state.charts[canvasId].destroy();
    config.options = Object.assign({
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: config.data.datasets.length > 1 } }
    }, config.options || {});
    if (onBar) {
      config.options.onClick = function (evt, elements) {
        if (elements.length) onBar(elements[0].index, elements[0].datasetIndex);
      };
      config.options.onHover = function (evt, elements) {
        evt.native.target.style.cursor = elements.length ? 'pointer' : 'default';
      };
    }
    canvas.setAttribute('aria-label', summary);
    state.charts[canvasId] = new Chart(canvas, config);
  }

  function dataset(label, data, color) {
    return { label: label, data: data, backgroundColor: color, borderColor: color, maxBarThickness: 48 };
  }

  function goList(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) { if (params[k] !== '' && params[k] !== undefined) q.set(k, params[k]); });
    location.hash = '#/clientes?' + q.toString();
  }

  function humano(segmento) {
    var s = String(segmento).replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  // ---------------------------------------------------------------- reports

  function loadInformes() {
    return Promise.all([
      cargarAdquisicion(),
      cargarInforme('retencion', '/cliente/reportes/retencion', dibujarRetencion),
      cargarInforme('geografia', '/cliente/reportes/geografia', dibujarGeografia),
      cargarInforme('canales', '/cliente/reportes/canales', dibujarCanales),
      cargarInforme('valor', '/cliente/reportes/valor', dibujarValor)
    ]);
  }

  function cargarInforme(nombre, path, draw) {
    var section = document.getElementById('informe-' + nombre);
    setError(section, '');
    section.setAttribute('aria-busy', 'true');
    return api(path).then(function (r) {
      state.informes[nombre] = r.body;
      draw(r.body);
    }, function (err) {
      setError(section, 'No se pudo cargar el informe: ' + err.message);
    }).then(function () { section.removeAttribute('aria-busy'); });
  }

  function cargarAdquisicion() {
    var form = $('#form-adquisicion');
    var q = new URLSearchParams();
    ['periodo', 'desde', 'hasta'].forEach(function (k) { if (form.elements[k].value) q.set(k, form.elements[k].value); });
    return cargarInforme('adquisicion', '/cliente/reportes/adquisicion?' + q.toString(), dibujarAdquisicion);
  }

  // finPeriodo is the last day of the period that begins on inicio.
  function finPeriodo(inicio, periodo) {
    var p = inicio.split('-').map(Number);
    var d = new Date(Date.UTC(p[0], p[1] - 1, p[2]));
    if (periodo === 'semana') d.setUTCDate(d.getUTCDate() + 6);
    if (periodo === 'mes') d = new Date(Date.UTC(p[0], p[1], 0));
    return d.toISOString().slice(0, 10);
  }

  function finMes(mes) { return finPeriodo(mes + '-01', 'mes'); }

  var NOMBRE_PERIODO = { dia: 'día', semana: 'semana', mes: 'mes' };

  function dibujarAdquisicion(d) {
    var form = $('#form-adquisicion');
    form.elements.periodo.value = d.periodo;
    form.elements.desde.value = d.desde;
    form.elements.hasta.value = d.hasta;
    var labels = d.puntos.map(function (p) { return p.inicio; });
    var values = d.puntos.map(function (p) { return p.nuevos; });
    var total = values.reduce(function (a, b) { return a + b; }, 0);
    drawChart('grafico-adquisicion', {
      type: 'line',
      data: { labels: labels, datasets: [Object.assign(dataset('Nuevos clientes', values, COLORES.principal), { tension: 0, pointRadius: 4, pointHoverRadius: 6 })] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, interaction: { mode: 'nearest', intersect: false } }
    }, 'Nuevos clientes por ' + NOMBRE_PERIODO[d.periodo] + ' del ' + d.desde + ' al ' + d.hasta + ': ' + numero.format(total) + ' en total.',
    function (i) {
      goList({ registradoDesde: labels[i], registradoHasta: finPeriodo(labels[i], d.periodo) });
    });
    fillTable($('#tabla-adquisicion'), 'Nuevos clientes por ' + NOMBRE_PERIODO[d.periodo], ['Inicio', 'Nuevos'],
      d.puntos.map(function (p) {
        return [link('#/clientes?registradoDesde=' + p.inicio + '&registradoHasta=' + finPeriodo(p.inicio, d.periodo), p.inicio), numero.format(p.nuevos)];
      }));
  }

  function dibujarRetencion(d) {
    var cohortes = d.cohortes;
    var labels = cohortes.map(function (c) { return c.cohorte; });
    drawChart('grafico-retencion', {
      type: 'bar',
      data: {
        labels: labels, datasets: [
          dataset('Activos', cohortes.map(function (c) { return c.activos; }), COLORES.principal),
          dataset('Inactivos', cohortes.map(function (c) { return c.inactivos; }), COLORES.secundario)
        ]
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    }, 'Clientes activos e inactivos por cohorte de registro, ' + cohortes.length + ' cohortes.',
    function (i, ds) {
      var c = labels[i];
      goList({ registradoDesde: c + '-01', registradoHasta: finMes(c), activo: ds === 0 ? 'true' : 'false' });
    });

    // The cohort table: one column for the cohort's month and each later
    // one, holding how many of its customers bought in that month.
    var maxOffset = -1;
    var offset = function (cohorte, mes) {
      var a = cohorte.split('-').map(Number), b = mes.split('-').map(Number);
      return (b[0] - a[0]) * 12 + (b[1] - a[1]);
    };
    cohortes.forEach(function (c) {
      (c.compras || []).forEach(function (m) { maxOffset = Math.max(maxOffset, offset(c.cohorte, m.mes)); });
    });
    var headers = ['Cohorte', 'Clientes', 'Activos', 'Inactivos'];
    for (var k = 0; k <= maxOffset; k++) headers.push(k === 0 ? 'Mes de registro' : 'Mes +' + k);
    var rows = cohortes.map(function (c) {
      var row = [c.cohorte, numero.format(c.clientes), numero.format(c.activos), numero.format(c.inactivos)];
      var byOffset = {};
      (c.compras || []).forEach(function (m) { byOffset[offset(c.cohorte, m.mes)] = m; });
      for (var k = 0; k <= maxOffset; k++) {
        var m = byOffset[k];
        if (!m) { row.push(''); continue; }
        var share = c.clientes ? m.compradores / c.clientes : 0;
        row.push(el('span', {
          className: 'celda nivel-' + Math.min(4, Math.ceil(share * 4)),
          title: m.mes + ': ' + m.compradores + ' de ' + c.clientes + ' compraron'
        }, numero.format(m.compradores)));
      }
      return row;
    });
    fillTable($('#tabla-retencion'), 'Compradores de cada cohorte en los meses siguientes', headers, rows);
  }

  function dibujarGeografia(d) {
    var deps = d.departamentos;
    var labels = deps.map(function (x) { return x.departamento; });
    drawChart('grafico-geografia', {
      type: 'bar',
      data: {
        labels: labels, datasets: [
          dataset('Total', deps.map(function (x) { return x.total; }), COLORES.suave),
          dataset('Activos', deps.map(function (x) { return x.activos; }), COLORES.principal)
        ]
      },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    }, 'Clientes por departamento: ' + deps.slice(0, 5).map(function (x) { return x.departamento + ' ' + x.total; }).join(', ') +
      (deps.length > 5 ? ' y otros ' + (deps.length - 5) : '') + '.',
    function (i) { goList({ departamento: labels[i] }); });
    var su = d.sinUbicar || { total: 0, activos: 0 };
    $('#sin-ubicar').textContent = 'Sin ubicar (la dirección no nombra un lugar conocido): ' +
      numero.format(su.total) + ' clientes, ' + numero.format(su.activos) + ' activos.';
    var rows = [];
    deps.forEach(function (x) {
      rows.push([link('#/clientes?departamento=' + encodeURIComponent(x.departamento), x.departamento), '', numero.format(x.total), numero.format(x.activos)]);
      (x.provincias || []).forEach(function (p) {
        rows.push([x.departamento, p.provincia, numero.format(p.total), numero.format(p.activos)]);
      });
    });
    rows.push(['sin ubicar', '', numero.format(su.total), numero.format(su.activos)]);
    fillTable($('#tabla-geografia'), 'Clientes por departamento y provincia', ['Departamento', 'Provincia', 'Total', 'Activos'], rows);
  }

  var CANALES = [['soloEmail', 'Solo email'], ['soloTelefono', 'Solo teléfono'], ['ambos', 'Email y teléfono'], ['ninguno', 'Ninguno']];
  var TELEFONOS = [['movil', 'Móvil'], ['fijo', 'Fijo'], ['otro', 'Otro']];

  function dibujarCanales(d) {
    var tel = d.telefonos || {};
    var opts = { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } };
    drawChart('grafico-canales', {
      type: 'bar',
      data: { labels: CANALES.map(function (c) { return c[1]; }), datasets: [dataset('Clientes activos', CANALES.map(function (c) { return d[c[0]]; }), COLORES.principal)] },
      options: opts
    }, 'Clientes activos por canal: ' + CANALES.map(function (c) { return c[1] + ' ' + d[c[0]]; }).join(', ') + '.');
    drawChart('grafico-telefonos', {
      type: 'bar',
      data: { labels: TELEFONOS.map(function (c) { return c[1]; }), datasets: [dataset('Teléfonos', TELEFONOS.map(function (c) { return tel[c[0]]; }), COLORES.secundario)] },
      options: opts
    }, 'Teléfonos de clientes activos: ' + TELEFONOS.map(function (c) { return c[1] + ' ' + tel[c[0]]; }).join(', ') + '.');
    fillTable($('#tabla-canales'), 'Clientes activos por canal', ['Canal', 'Clientes'],
      CANALES.map(function (c) { return [c[1], numero.format(d[c[0]])]; })
        .concat(TELEFONOS.map(function (c) { return ['Teléfono ' + c[1].toLowerCase(), numero.format(tel[c[0]])]; })));
  }

  // UMBRALES names the thresholds of the valor report (CONTRACT.md).
  var UMBRALES = {
    mesesReciente: 'Compra reciente: meses desde la última, hasta',
    mesesMedia: 'Recencia media: meses desde la última, hasta',
    mesesPerdido: 'Perdido: meses sin comprar, desde',
    comprasFrecuente: 'Compras de un cliente frecuente, desde',
    comprasRepetida: 'Compras de un cliente que repite, desde',
    gastoAlto: 'Gasto alto, desde',
    gastoAltoOtras: 'Gasto alto en otras monedas, desde',
    mes: 'Mes de referencia'
  };

  function dibujarValor(d) {
    var select = $('#form-valor').elements.moneda;
    var monedas = [];
    d.segmentos.forEach(function (s) { if (monedas.indexOf(s.moneda) < 0) monedas.push(s.moneda); });
    if (monedas.indexOf('PEN') < 0) monedas.unshift('PEN');
    var elegida = monedas.indexOf(select.value) >= 0 ? select.value : 'PEN';
    clear(select);
    monedas.forEach(function (m) { select.appendChild(el('option', { value: m }, m)); });
    select.value = elegida;

    var segs = d.segmentos.filter(function (s) { return s.moneda === elegida; });
    drawChart('grafico-valor', {
      type: 'bar',
      data: { labels: segs.map(function (s) { return humano(s.segmento); }), datasets: [dataset('Clientes', segs.map(function (s) { return s.clientes; }), COLORES.principal)] },
      options: {
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: false }, tooltip: { callbacks: { afterLabel: function (ctx) { return 'Gasto: ' + segs[ctx.dataIndex].gasto + ' ' + elegida; } } } }
      }
    }, 'Clientes por segmento de valor en ' + elegida + ': ' + segs.map(function (s) { return humano(s.segmento) + ' ' + s.clientes; }).join(', ') + '.',
    function (i) { goList({ segmento: segs[i].segmento, moneda: elegida }); });

    fillDl($('#umbrales-valor'), Object.keys(d.umbrales || {}).map(function (k) {
      var v = d.umbrales[k];
      if (v && typeof v === 'object') {
        v = Object.keys(v).map(function (m) { return m + ' ' + v[m]; }).join(', ');
      }
      return [UMBRALES[k] || k, String(v)];
    }));
    fillTable($('#tabla-valor'), 'Segmentos de valor', ['Moneda', 'Segmento', 'Clientes', 'Gasto'],
      d.segmentos.map(function (s) {
        return [s.moneda, link('#/clientes?segmento=' + encodeURIComponent(s.segmento) + '&moneda=' + encodeURIComponent(s.moneda), humano(s.segmento)),
          numero.format(s.clientes), s.gasto];
      }));
    var list = clear($('#segmentos'));
    var vistos = {};
    d.segmentos.forEach(function (s) {
      if (!vistos[s.segmento]) list.appendChild(el('option', { value: s.segmento }));
      vistos[s.segmento] = true;
    });
  }

  function descargarCSV(nombre) {
    var section = document.getElementById('informe-' + nombre);
    var path = '/cliente/reportes/' + nombre;
    if (nombre === 'adquisicion') {
      var form = $('#form-adquisicion');
      path += '?' + new URLSearchParams({ periodo: form.elements.periodo.value, desde: form.elements.desde.value, hasta: form.elements.hasta.value });
    }
    api(path, 'text/csv').then(function (r) {
      var url = URL.createObjectURL(new Blob([r.body], { type: 'text/csv' }));
      var a = el('a', { href: url, download: nombre + '.csv' });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    }, function (err) { setError(section, 'No se pudo descargar: ' + err.message); });
  }

  // ---------------------------------------------------------------- customer list

  function loadClientes(query) {
    var view = $('#vista-clientes');
    var form = $('#form-buscar');
    var q = new URLSearchParams();
    LIST_PARAMS.forEach(function (k) { if (query.get(k)) q.set(k, query.get(k)); });
    if (!q.get('limite')) q.set('limite', form.elements.limite.value || '25');
    LIST_PARAMS.forEach(function (k) { if (form.elements[k]) form.elements[k].value = q.get(k) || (k === 'limite' ? '25' : ''); });

    // The page stack: a new search starts it, a step forward pushes.
    var here = '#/clientes?' + q.toString();
    var at = state.paginas.indexOf(here);
    if (at >= 0) state.paginas = state.paginas.slice(0, at + 1);
    else if (q.get('cursor') && state.paginas.length) state.paginas.push(here);
    else state.paginas = [here];

    setError(view, '');
    view.setAttribute('aria-busy', 'true');
    var body = $('#tabla-clientes tbody');
    return api('/cliente?' + q.toString()).then(function (r) {
      clear(body);
      r.body.forEach(function (c) {
        body.appendChild(el('tr', null,
          el('td', null, link('#/cliente/' + c.id, String(c.id))),
          el('td', null, c.dni),
          el('td', null, link('#/cliente/' + c.id, (c.nombre + ' ' + (c.apellido || '')).trim())),
          el('td', null, c.email),
          el('td', null, c.telefono || ''),
          el('td', null, c.direccion || ''),
          el('td', null, fechaHora.format(new Date(c.fechaRegistro))),
          el('td', null, el('span', { className: c.activo ? 'estado activo' : 'estado inactivo' }, c.activo ? 'Activo' : 'Inactivo'))));
      });
      var next = nextLink(r.headers);
      var siguiente = $('#pagina-siguiente');
      siguiente.disabled = !next;
      siguiente.dataset.destino = next ? '#/clientes?' + next.slice(next.indexOf('?') + 1) : '';
      $('#pagina-anterior').disabled = state.paginas.length < 2;
      $('#pagina-numero').textContent = 'Página ' + state.paginas.length;
      $('#clientes-resumen').textContent = r.body.length ?
        r.body.length + (r.body.length === 1 ? ' cliente' : ' clientes') + ' en esta página' + (next ? '; hay más.' : '.') :
        'Ningún cliente cumple estos criterios.';
    }, function (err) {
      clear(body);
      $('#pagina-siguiente').disabled = true;
      setError(view, 'No se pudo cargar la lista: ' + err.message);
    }).then(function () { view.removeAttribute('aria-busy'); });
  }

  // ---------------------------------------------------------------- one customer

  function loadCliente(id) {
    var view = $('#vista-cliente');
    setError(view, '');
    view.setAttribute('aria-busy', 'true');
    $('#titulo-cliente').textContent = 'Cliente ' + id;
    fillDl($('#cliente-perfil dl'), []);
    fillDl($('#cliente-resumen dl'), []);
    clear($('#cliente-resumen table'));
    clear($('#cliente-compras tbody'));
    $('#cliente-auditoria').hidden = true;
    ['#cliente-resumen', '#cliente-compras', '#cliente-auditoria'].forEach(function (s) { setError($(s), ''); });

    var perfil = api('/cliente/' + id).then(function (r) {
      var c = r.body;
      $('#titulo-cliente').textContent = (c.nombre + ' ' + (c.apellido || '')).trim();
      fillDl($('#cliente-perfil dl'), [
        ['Id', String(c.id)], ['DNI', c.dni], ['Nombre', c.nombre], ['Apellido', c.apellido],
        ['Email', c.email], ['Teléfono', c.telefono], ['Dirección', c.direccion],
        ['Registro', fechaHora.format(new Date(c.fechaRegistro))],
        ['Estado', el('span', { className: c.activo ? 'estado activo' : 'estado inactivo' }, c.activo ? 'Activo' : 'Inactivo')],
        ['Versión', String(c.version)]
      ]);
    }, function (err) { setError(view, 'No se pudo cargar el cliente: ' + err.message); });

    var resumen = api('/cliente/' + id + '/resumen').then(function (r) {
      var s = r.body;
      fillDl($('#cliente-resumen dl'), [
        ['Compras', numero.format(s.compras)], ['Anuladas', numero.format(s.anuladas)], ['Artículos', numero.format(s.items)],
        ['Primera compra', s.primeraCompra ? fechaHora.format(new Date(s.primeraCompra)) : ''],
        ['Última compra', s.ultimaCompra ? fechaHora.format(new Date(s.ultimaCompra)) : ''],
        ['Días entre compras', s.diasEntreCompras === null ? '' : numero.format(Math.round(s.diasEntreCompras * 10) / 10)]
      ]);
      fillTable($('#cliente-resumen table'), 'Por moneda',
        ['Moneda', 'Compras', 'Total gastado', 'Ticket promedio', 'Gasto mensual', 'Valor de vida'],
        (s.porMoneda || []).map(function (m) { return [m.moneda, numero.format(m.compras), m.totalGastado, m.ticketPromedio, m.gastoMensual, m.valorVida]; }));
    }, function (err) { setError($('#cliente-resumen'), permiso(err, 'el resumen')); });

    state.compras = '/cliente/' + id + '/compras?limite=20';
    var compras = cargarCompras();

    // The audit trail is shown only to callers who may see it: a 403
    // (scope) or 404 (no such route or record) keeps the section hidden.
    var auditoria = api('/cliente/' + id + '/auditoria').then(function (r) {
      dibujarAuditoria(r.body);
      $('#cliente-auditoria').hidden = false;
    }, function (err) {
      if (err.status === 403 || err.status === 404) return;
      $('#cliente-auditoria').hidden = false;
      setError($('#cliente-auditoria'), 'No se pudo cargar la auditoría: ' + err.message);
    });

    return Promise.all([perfil, resumen, compras, auditoria]).then(function () { view.removeAttribute('aria-busy'); });
  }

  function permiso(err, que) {
    return err.status === 403 ? 'Su token no permite ver ' + que + '.' : 'No se pudo cargar ' + que + ': ' + err.message;
  }

  function cargarCompras() {
    var section = $('#cliente-compras');
    var mas = $('#compras-mas');
    var path = state.compras;
    mas.hidden = true;
    return api(path).then(function (r) {
      var body = $('tbody', section);
      r.body.compras.forEach(function (c) {
        body.appendChild(el('tr', { className: c.anulada ? 'anulada' : '' },
          el('td', null, fechaHora.format(new Date(c.fecha))),
          el('td', null, c.ventaId),
          el('td', { className: 'numero' }, c.total),
          el('td', null, c.moneda),
          el('td', { className: 'numero' }, numero.format(c.items)),
          el('td', null, c.anulada ? 'Anulada' : 'Vigente')));
      });
      if (!body.children.length) body.appendChild(el('tr', null, el('td', { colSpan: 6 }, 'Sin compras registradas.')));
      var next = nextLink(r.headers);
      state.compras = next;
      mas.hidden = !next;
    }, function (err) { setError(section, permiso(err, 'las compras')); });
  }

  // dibujarAuditoria shows the audit entries (version, kind of change,
  // when, who, and each field from what to what) as the API sends them:
  // a list, or an object holding the list.
  function dibujarAuditoria(body) {
    var entries = Array.isArray(body) ? body : (Object.keys(body || {}).map(function (k) { return body[k]; }).filter(Array.isArray)[0] || []);
    var valor = function (v) { return v === null || v === undefined ? '—' : String(v); };
    fillTable($('#cliente-auditoria table'), entries.length ? null : 'Sin registros de auditoría.',
      ['Versión', 'Cambio', 'Fecha', 'Autor', 'Campos'],
      entries.map(function (e) {
        var autor = Object.keys(e.autor || {}).map(function (k) { return e.autor[k]; }).filter(Boolean).join(' · ');
        var campos = (e.campos || []).map(function (c) {
          return c.campo + ': ' + (c.borrado ? '(borrado)' : valor(c.antes) + ' → ' + valor(c.despues));
        }).join('; ');
        return [String(e.version), humano(e.tipo || ''), e.fecha ? fechaHora.format(new Date(e.fecha)) : '', autor, campos];
      }));
  }

  // ---------------------------------------------------------------- wiring

  document.addEventListener('DOMContentLoaded', function () {
    $('#form-acceso').addEventListener('submit', function (e) {
      e.preventDefault();
      var t = $('#token').value.trim().replace(/^Bearer\s+/i, '');
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      $('#token').value = '';
      $('#acceso-error').textContent = '';
      route();
    });
    $('#salir').addEventListener('click', function () { signOut('Sesión cerrada.'); });
    $('#form-adquisicion').addEventListener('submit', function (e) { e.preventDefault(); cargarAdquisicion(); });
    $('#form-valor').addEventListener('change', function () { if (state.informes.valor) dibujarValor(state.informes.valor); });
    document.querySelectorAll('button.csv').forEach(function (b) {
      b.addEventListener('click', function () { descargarCSV(b.dataset.informe); });
    });
    $('#form-buscar').addEventListener('submit', function (e) {
      e.preventDefault();
      var q = new URLSearchParams();
      LIST_PARAMS.forEach(function (k) {
        var f = e.target.elements[k];
        if (f && f.value.trim()) q.set(k, f.value.trim());
      });
      state.paginas = [];
      var hash = '#/clientes?' + q.toString();
      if (location.hash === hash) route(); // the same search again: no hashchange
      else location.hash = hash;
    });
    $('#pagina-siguiente').addEventListener('click', function (e) {
      if (e.target.dataset.destino) location.hash = e.target.dataset.destino;
    });
    $('#pagina-anterior').addEventListener('click', function () {
      if (state.paginas.length > 1) location.hash = state.paginas[state.paginas.length - 2];
    });
    $('#compras-mas').addEventListener('click', function () { if (state.compras) cargarCompras(); });
    window.addEventListener('hashchange', route);
    route();
  });
})();
