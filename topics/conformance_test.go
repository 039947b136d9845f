package topics_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

// Requests CONTRACT.md states in words, made concrete as edits of the
// example before them (Luis is seeded by TestContractExamples).
var worded = map[string]string{
	"dni of another customer": `data {…,"dni":"20000002"}`, // Luis's
	"unknown DNI":             `data {"dni":"99999999"}`,
	"unknown address":         `data {"email":"nadie@example.pe"}`,
	"negative values":         `data {"despuesDeId":-1,"limite":-1}`,
}

// TestContractExamples replays the request/reply examples of CONTRACT.md
// §5 through Kafka against a running worker, in document order on one
// fresh store, and checks each reply against the document: key, headers
// and body. Ids and fechaRegistro, which depend on the state, are matched by
// meaning: a documented value stands for the same actual one everywhere.
func TestContractExamples(t *testing.T) {
	exs, err := contractExamples("CONTRACT.md")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("CONTRACT.md")
	if err != nil {
		t.Fatal(err)
	}
	full, table := 0, 0
	for _, ex := range exs {
		switch {
		case ex.body != "":
			full++
		case strings.HasPrefix(ex.where, "§5.8"):
			table++
		}
	}
	if want := strings.Count(string(raw), "\n→ cliente."); full != want || full < 7 || table < 10 {
		t.Fatalf("read %d full examples of %d and %d envelope table replays: the reader no longer understands CONTRACT.md", full, want, table)
	}

	s := startStack(t, newService())
	prefix := strings.TrimSuffix(s.cmdTopic, "cmd")
	r := &replayer{
		brokers:    s.brokers,
		topics:     map[string]string{"cliente.comandos": s.cmdTopic, "cliente.consultas": prefix + "qry", "cliente.admin": prefix + "adm"},
		replyTopic: prefix + "ventas.replies",
		readers:    map[int]*kafka.Reader{},
		ids:        map[string]string{},
		dates:      map[string]string{},
		w: &kafka.Writer{Addr: s.brokers.Addr(), Transport: s.brokers.Transport(), Balancer: kafka.Murmur2Balancer{},
			BatchTimeout: time.Millisecond, BatchBytes: 4 << 20, RequiredAcks: kafka.RequireAll},
	}
	t.Cleanup(r.close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two partitions, so that replies landing on the documented one ([0])
	// shows that kafka_replyPartition is honoured.
	if err := topics.EnsureTopics(ctx, s.brokers, zerolog.Nop(), topics.TopicSpec{Name: r.replyTopic, Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}

	// What the story presupposes: a customer before the listing's cursor
	// (despuesDeId 1) and Luis, id 4 in §5.7, whose dni is "another
	// customer's" in §5.2. Their documented ids stand for the actual ones.
	for _, seed := range []struct {
		docID string
		d     handlers.Datos
	}{
		{"1", handlers.Datos{DNI: ptr("10117410"), Nombre: ptr("Ana"), Email: ptr("ana@example.pe")}},
		{"4", handlers.Datos{DNI: ptr("20000002"), Nombre: ptr("Luis"), Email: ptr("luis@example.cl"), Telefono: ptr("+56961234567")}},
	} {
		var c handlers.Cliente
		if err := call(t, s, topics.Crear(seed.d)).Decode(&c); err != nil {
			t.Fatal(err)
		}
		r.ids[seed.docID] = fmt.Sprint(c.ID)
	}

	var skipped []string
	for _, ex := range exs {
		if ex.skip != "" {
			skipped = append(skipped, fmt.Sprintf("%s %q: %s", ex.where, ex.text, ex.skip))
			continue
		}
		t.Run(strings.ReplaceAll(ex.where, " ", "_"), func(t *testing.T) { r.replay(t, ex) })
	}
	t.Logf("replayed %d examples (%d full, %d envelope table rows on both topics)", len(exs)-len(skipped), full, table/2)
	t.Logf("not replayed:\n  %s", strings.Join(skipped, "\n  "))
}

type replayer struct {
	brokers    topics.Cluster
	w          *kafka.Writer
	topics     map[string]string // documented request topic → the test's
	replyTopic string
	readers    map[int]*kafka.Reader // of replyTopic, by partition
	ids        map[string]string     // documented customer id → actual
	dates      map[string]string     // documented fechaRegistro → actual
	n          int                   // correlation ids made for follow-ups
}

func (r *replayer) close() {
	r.w.Close()
	for _, rd := range r.readers {
		rd.Close()
	}
}

func (r *replayer) replay(t *testing.T, ex *docExample) {
	t.Log(ex.text)
	src := cmp.Or(ex.base, ex)
	req := kafka.Message{Topic: r.topics[cmp.Or(ex.topic, src.req.topic)]}
	for _, h := range src.req.headers {
		v := h.value
		switch h.name {
		case topics.HeaderReplyTopic:
			v = []byte(r.replyTopic)
		case topics.HeaderCorrelationID:
			if ex.base != nil { // each request its own: commands are idempotent by it
				r.n++
				v = fmt.Appendf(nil, "conformance-%04d", r.n)
			}
		}
		req.Headers = append(req.Headers, kafka.Header{Key: h.name, Value: v})
	}
	if ex.base == nil {
		req.Value, req.Key = []byte(r.mapIDs(ex.body)), src.req.key
		if k := string(req.Key); r.ids[k] != "" { // a customer id as key (§2.1)
			req.Key = []byte(r.ids[k])
		}
	} else {
		var err error
		if req.Value, req.Key, err = r.derive(src.body, src.req.key, ex.edit); err != nil {
			t.Fatal(err)
		}
	}
	if req.Topic == "" {
		t.Fatalf("no test topic for %q", src.req.topic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.w.WriteMessages(ctx, req); err != nil {
		t.Fatal(err)
	}
	corr := headerOf(req.Headers, topics.HeaderCorrelationID)
	p := max(0, src.reply.partition) // the documented reply partition
	if ex.reply.topic != "" {
		p = max(0, ex.reply.partition)
	}
	m, err := r.read(ctx, p, corr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reply %s", m.Value)
	for _, d := range r.check(ex, req, m) {
		t.Error(d)
	}
}

// derive makes a follow-up's request from its base's body and key.
func (r *replayer) derive(baseBody string, baseKey []byte, edit string) (body, key []byte, err error) {
	v, err := parseLoose(baseBody)
	if err != nil {
		return nil, nil, err
	}
	env := v.(map[string]any)
	data, _ := env["data"].(map[string]any)
	switch {
	case edit == "not JSON":
		return []byte(edit), nil, nil
	case edit == "no type":
		delete(env, "type")
	case edit == "no data":
		delete(env, "data")
	case edit == "over 1 MiB": // unknown fields are ignored, but not read here
		env["relleno"] = strings.Repeat("x", topics.MaxMessageBytes)
	case strings.HasPrefix(edit, "envelope "):
		v, err := parseLoose(strings.TrimPrefix(edit, "envelope "))
		if err != nil {
			return nil, nil, err
		}
		maps.Copy(env, v.(map[string]any))
	case strings.HasPrefix(edit, "id "):
		data = maps.Clone(data)
		data["id"] = json.Number(strings.TrimPrefix(edit, "id "))
		env["data"] = data
	case strings.HasPrefix(edit, "data ") || strings.HasPrefix(edit, "{"):
		v, err := parseLoose(strings.TrimPrefix(edit, "data "))
		if err != nil {
			return nil, nil, err
		}
		if m, ok := v.(map[string]any); ok && m[ellipsis] != nil { // the base's data with these fields
			delete(m, ellipsis)
			v = maps.Clone(data)
			maps.Copy(v.(map[string]any), m)
		}
		env["data"] = v
	case worded[edit] != "":
		return r.derive(baseBody, baseKey, worded[edit])
	default:
		return nil, nil, fmt.Errorf("cannot make %q concrete: write it as data, or add it to worded", edit)
	}
	body = []byte(r.mapIDs(string(marshal(env))))
	// The key follows the changed data as §2.1 says; queries stay unkeyed.
	data, _ = env["data"].(map[string]any)
	switch {
	case baseKey == nil:
	case env["type"] == string(topics.TypeCrear):
		if dni, ok := data["dni"].(string); ok {
			key = []byte(strings.TrimSpace(dni))
		}
	default:
		if id, ok := data["id"].(json.Number); ok {
			key = []byte(cmp.Or(r.ids[id.String()], id.String()))
		}
	}
	return body, key, nil
}

var idField = regexp.MustCompile(`("(?:id|clienteId|despuesDeId)"\s*:\s*)(-?\d+)`)

// mapIDs replaces documented customer ids in a request body by the actual
// ones; other numbers (999, 0) are sent as written.
func (r *replayer) mapIDs(body string) string {
	return idField.ReplaceAllStringFunc(body, func(s string) string {
		m := idField.FindStringSubmatch(s)
		return m[1] + cmp.Or(r.ids[m[2]], m[2])
	})
}

// read returns the reply with key corr from partition p of the reply topic.
func (r *replayer) read(ctx context.Context, p int, corr []byte) (kafka.Message, error) {
	rd := r.readers[p]
	if rd == nil {
		rd = kafka.NewReader(r.brokers.ReaderConfig(kafka.ReaderConfig{Topic: r.replyTopic, Partition: p, MaxWait: 100 * time.Millisecond}))
		r.readers[p] = rd
	}
	for {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			return m, fmt.Errorf("no reply with key %q on %s[%d]: %w", corr, r.replyTopic, p, err)
		}
		if bytes.Equal(m.Key, corr) {
			return m, nil
		}
	}
}

// check compares the reply m to request req with what the document says.
func (r *replayer) check(ex *docExample, req, m kafka.Message) []string {
	var diffs []string
	corr := headerOf(req.Headers, topics.HeaderCorrelationID)
	got := map[string][]byte{}
	for _, h := range m.Headers {
		got[h.Key] = h.Value
	}
	// §3: the key and kafka_correlationId are the request's correlation
	// bytes; a valid kafka_replyPartition is echoed.
	if !bytes.Equal(got[topics.HeaderCorrelationID], corr) {
		diffs = append(diffs, fmt.Sprintf("reply %s = %x, want the request's %x", topics.HeaderCorrelationID, got[topics.HeaderCorrelationID], corr))
	}
	if p := headerOf(req.Headers, topics.HeaderReplyPartition); p != nil && !bytes.Equal(got[topics.HeaderReplyPartition], p) {
		diffs = append(diffs, fmt.Sprintf("reply %s = %x, want %x echoed", topics.HeaderReplyPartition, got[topics.HeaderReplyPartition], p))
	}
	// The documented reply record (full examples show the correlation id
	// that was sent; follow-ups show their error headers).
	if ex.reply.hasKey && !bytes.Equal(m.Key, ex.reply.key) {
		diffs = append(diffs, fmt.Sprintf("reply key %x, documented %x", m.Key, ex.reply.key))
	}
	for _, h := range ex.reply.headers {
		if v, ok := got[h.name]; !ok || !bytes.Equal(v, h.value) {
			diffs = append(diffs, fmt.Sprintf("reply header %s = %q (present %v), documented %q", h.name, v, ok, h.value))
		}
	}
	body, rest, err := readJSON(string(m.Value))
	if err != nil || strings.TrimSpace(rest) != "" {
		return append(diffs, fmt.Sprintf("reply body is not one JSON value: %v %q", err, rest))
	}
	want := ex.want
	if ex.echoType {
		w := maps.Clone(want.(map[string]any))
		w["type"] = ""
		if env, err := parseLoose(string(req.Value)); err == nil && len(req.Value) <= topics.MaxMessageBytes {
			w["type"], _ = env.(map[string]any)["type"].(string)
		}
		want = w
	}
	diffs = append(diffs, r.match("body", want, body)...)
	// §3: cliente_error and cliente_error_message on error replies only,
	// saying what the body says.
	b, _ := body.(map[string]any)
	e, _ := b["error"].(map[string]any)
	for name, field := range map[string]string{topics.HeaderErrorCode: "code", topics.HeaderErrorMessage: "message"} {
		v, ok := got[name]
		if b["status"] == "error" && (!ok || e[field] != string(v)) || b["status"] != "error" && ok {
			diffs = append(diffs, fmt.Sprintf("reply header %s = %q (present %v), body status %v error %s %v", name, v, ok, b["status"], field, e[field]))
		}
	}
	return diffs
}

var fechaFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// match compares actual JSON to a documented pattern (parseLoose): an
// object with "…" may have more fields; ids and fechaRegistro map
// consistently from documented to actual values.
func (r *replayer) match(path string, want, got any) []string {
	diff := func(format string, a ...any) []string { return []string{path + ": " + fmt.Sprintf(format, a...)} }
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return diff("got %s, documented an object", marshal(got))
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(w)) {
			gv, ok := g[k]
			switch {
			case k == ellipsis:
			case !ok:
				out = append(out, path+"."+k+": missing, documented "+string(marshal(w[k])))
			case k == "id" || k == "clienteId":
				out = append(out, r.bind(path+"."+k, r.ids, w[k], gv, nil)...)
			case k == "fechaRegistro":
				out = append(out, r.bind(path+"."+k, r.dates, w[k], gv, fechaFormat)...)
			default:
				out = append(out, r.match(path+"."+k, w[k], gv)...)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok && w[ellipsis] == nil {
				out = append(out, path+"."+k+": not documented, got "+string(marshal(g[k])))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return diff("got %s, documented %s", marshal(got), marshal(want))
		}
		var out []string
		for i := range w {
			out = append(out, r.match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		return diff("got %s, documented %s", marshal(got), marshal(want))
	}
	return nil
}

// bind matches a state-dependent value: the first actual value seen for a
// documented one is what it stands for from then on, and no two documented
// values stand for the same actual one. format, if given, must match both.
func (r *replayer) bind(path string, m map[string]string, want, got any, format *regexp.Regexp) []string {
	w, g := fmt.Sprint(want), fmt.Sprint(got)
	if reflect.TypeOf(want) != reflect.TypeOf(got) {
		return []string{fmt.Sprintf("%s: got %s, documented %s", path, marshal(got), marshal(want))}
	}
	if format != nil && (!format.MatchString(w) || !format.MatchString(g)) {
		return []string{fmt.Sprintf("%s: got %q, documented %q, want the format %s", path, g, w, format)}
	}
	if a, ok := m[w]; ok {
		if a != g {
			return []string{fmt.Sprintf("%s: got %s, but documented %s stood for %s before", path, g, w, a)}
		}
		return nil
	}
	for d, a := range m {
		if a == g {
			return []string{fmt.Sprintf("%s: got %s, documented %s, but %s stands for documented %s", path, g, w, g, d)}
		}
	}
	m[w] = g
	return nil
}

func headerOf(hs []kafka.Header, name string) []byte {
	for _, h := range hs {
		if h.Key == name {
			return h.Value
		}
	}
	return nil
}
