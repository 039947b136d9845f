package topics_test

// A reader of the request/reply examples of CONTRACT.md §5, replayed by
// TestContractExamples.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ellipsis in a documented JSON object means "other fields not shown".
const ellipsis = "…"

type docHeader struct {
	name  string
	value []byte
}

// docRecord is a documented record line, "→ topic key=… name=value…" or
// "← topic[partition] key=… name=value…"; values are "text", 0xhex or null.
type docRecord struct {
	topic     string // "" when not shown
	partition int    // -1 when not shown
	hasKey    bool
	key       []byte // nil for key=null
	headers   []docHeader
}

// docExample is one request and the reply the document promises for it.
type docExample struct {
	where string // "§5.1 line 180"
	text  string // the documented lines

	// A full example: the request as documented.
	req  docRecord
	body string
	// A follow-up: the request of base (a full example) changed by edit,
	// one of `data {…}`, `{…}` (data too), `id N`, `no data`, `no type`,
	// `not JSON`, `over 1 MiB`, `envelope {…}` (top-level fields) or words
	// that the test knows how to make concrete.
	base  *docExample
	edit  string
	topic string // a follow-up's topic when not the base's

	reply    docRecord // as documented (often nothing but headers)
	want     any       // pattern of the reply body (parseLoose)
	echoType bool      // the body's type is the request's, whatever it is

	skip string // why it is not replayed
}

// contractExamples reads CONTRACT.md §5: the code blocks (full examples and
// their shortened follow-ups), the "Errors:" sentences that show a request,
// and the envelope error table of §5.8.
func contractExamples(path string) ([]*docExample, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(raw), "\n")
	var (
		out              []*docExample
		in5              bool
		section          string
		base, queryBase  *docExample
		fence, plainCode bool
		block            []int // line indexes of the current plain block
		para             []int
	)
	flushPara := func() error {
		defer func() { para = nil }()
		if len(para) == 0 {
			return nil
		}
		exs, err := errorSentences(lines, para, section, base)
		out = append(out, exs...)
		return err
	}
	for i, l := range lines {
		switch {
		case fence:
			if l == "```" {
				fence = false
				if plainCode {
					exs, b, err := codeBlock(lines, block, section, base)
					if err != nil {
						return nil, err
					}
					out, base = append(out, exs...), b
					if queryBase == nil && b != nil && b.req.topic == "cliente.consultas" {
						queryBase = b
					}
				}
			} else if plainCode {
				block = append(block, i)
			}
			continue
		case strings.HasPrefix(l, "## "):
			in5 = strings.HasPrefix(l, "## 5.")
		case !in5:
			continue
		case strings.HasPrefix(l, "```"):
			if err := flushPara(); err != nil {
				return nil, err
			}
			fence, plainCode, block = true, l == "```", nil
		case strings.HasPrefix(l, "### "):
			section = strings.Fields(l)[1]
			base = nil
		case section == "5.8" && strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| Request"):
			ex, err := envelopeRow(l, i, queryBase)
			if err != nil {
				return nil, err
			}
			out = append(out, ex)
			// Envelope errors apply to any topic: also on the command topic.
			cmd := *ex
			cmd.topic, cmd.where = "cliente.comandos", ex.where+" (commands)"
			out = append(out, &cmd)
		case strings.HasPrefix(l, "|"):
		case strings.TrimSpace(l) == "":
			if err := flushPara(); err != nil {
				return nil, err
			}
		default:
			para = append(para, i)
		}
	}
	return out, nil
}

// codeBlock parses one plain code block of §5. base is the last full
// example before it; it returns the last full example after it.
func codeBlock(lines []string, idx []int, section string, base *docExample) ([]*docExample, *docExample, error) {
	var out []*docExample
	where := func(k int) string { return fmt.Sprintf("§%s line %d", section, idx[k]+1) }
	// body returns the indented line k, which must follow a record line.
	body := func(k int) (string, error) {
		if k >= len(idx) || !strings.HasPrefix(lines[idx[k]], "  ") {
			return "", fmt.Errorf("%s: expected an indented body line", where(k-1))
		}
		return strings.TrimSpace(lines[idx[k]]), nil
	}
	for k := 0; k < len(idx); k++ {
		l := strings.TrimSpace(lines[idx[k]])
		start := k
		ex := &docExample{where: where(k)}
		switch {
		case l == "":
			continue
		case strings.HasPrefix(l, "→ "):
			var err error
			if ex.req, err = parseRecord(strings.TrimPrefix(l, "→ ")); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", ex.where, err)
			}
			if ex.body, err = body(k + 1); err != nil {
				return nil, nil, err
			}
			k += 2
			if k >= len(idx) || !strings.HasPrefix(lines[idx[k]], "← ") {
				return nil, nil, fmt.Errorf("%s: request without its ← reply", ex.where)
			}
			if err := replyRecord(ex, lines, idx, &k, body); err != nil {
				return nil, nil, err
			}
			base = ex
		default:
			if base == nil {
				return nil, nil, fmt.Errorf("%s: follow-up without a full example before it", ex.where)
			}
			ex.base = base
			left, right, arrow := strings.Cut(l, "→")
			ex.edit = stripComment(left)
			next := ""
			if k+1 < len(idx) {
				next = strings.TrimSpace(lines[idx[k+1]])
			}
			var err error
			switch {
			case arrow:
				err = replySpec(ex, right)
			case strings.HasPrefix(next, "→"):
				k++
				err = replySpec(ex, strings.TrimPrefix(next, "→"))
			case strings.HasPrefix(next, "← "):
				k++
				err = replyRecord(ex, lines, idx, &k, body)
			default:
				err = fmt.Errorf("cannot read %q", l)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", ex.where, err)
			}
		}
		var text []string
		for _, j := range idx[start : k+1] {
			text = append(text, lines[j])
		}
		ex.text = strings.Join(text, "\n")
		out = append(out, ex)
	}
	return out, base, nil
}

// replyRecord reads "← record" at idx[*k] and its body line, leaving *k on
// the body line.
func replyRecord(ex *docExample, lines []string, idx []int, k *int, body func(int) (string, error)) error {
	var err error
	if ex.reply, err = parseRecord(strings.TrimPrefix(strings.TrimSpace(lines[idx[*k]]), "← ")); err != nil {
		return fmt.Errorf("%s: %w", ex.where, err)
	}
	b, err := body(*k + 1)
	if err != nil {
		return err
	}
	*k++
	if ex.want, err = parseLoose(b); err != nil {
		return fmt.Errorf("%s: reply body: %w", ex.where, err)
	}
	return nil
}

// replySpec reads a shortened reply: a whole body, an error object, or a
// list such as `conflict, "message", field "email"` (errorSpec).
func replySpec(ex *docExample, s string) error {
	s = stripComment(s)
	if strings.HasPrefix(s, "{") {
		v, err := parseLoose(s)
		if err != nil {
			return err
		}
		if m, ok := v.(map[string]any); ok && m["status"] == nil {
			ex.want, ex.echoType = errorBody(m), true
			return nil
		}
		ex.want = v
		return nil
	}
	e, err := errorSpec(s)
	ex.want, ex.echoType = errorBody(e), true
	return err
}

func errorBody(e map[string]any) map[string]any {
	return map[string]any{"status": "error", "error": e}
}

// errorSpec reads a comma-separated error description: a bare code
// (`invalid`), a quoted message, `message "…"`, `fields [json]` or
// `field name ["message"]`. Unless both code and message are shown, the
// other error fields are not compared.
func errorSpec(s string) (map[string]any, error) {
	e := map[string]any{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " ,") {
		var err error
		switch {
		case s[0] == '"':
			e["message"], s, err = readJSON(s)
		case strings.HasPrefix(s, "message "):
			e["message"], s, err = readJSON(s[len("message "):])
		case strings.HasPrefix(s, "fields "):
			e["fields"], s, err = readJSON(s[len("fields "):])
		case strings.HasPrefix(s, "field "):
			var name, msg any = nil, nil
			s = strings.TrimSpace(s[len("field "):])
			if strings.HasPrefix(s, `"`) {
				name, s, err = readJSON(s)
			} else {
				end := strings.IndexAny(s+" ", " ,")
				name, s = s[:end], s[end:]
			}
			f := map[string]any{"field": name, ellipsis: true}
			if s = strings.TrimSpace(s); err == nil && strings.HasPrefix(s, `"`) {
				msg, s, err = readJSON(s)
				f = map[string]any{"field": name, "message": msg}
			}
			e["fields"] = []any{f}
		default:
			end := strings.IndexAny(s+" ", " ,")
			if !regexp.MustCompile(`^[a-z_]+$`).MatchString(s[:end]) {
				return nil, fmt.Errorf("cannot read error %q", s)
			}
			e["code"], s = s[:end], s[end:]
		}
		if err != nil {
			return nil, fmt.Errorf("error spec %q: %w", s, err)
		}
	}
	if e["code"] == nil || e["message"] == nil {
		e[ellipsis] = true
	}
	return e, nil
}

// envelopeRow reads a row of the §5.8 table: | request | reply type | error |.
func envelopeRow(l string, i int, base *docExample) (*docExample, error) {
	cells := strings.Split(strings.Trim(strings.TrimSpace(l), "|"), "|")
	ex := &docExample{where: fmt.Sprintf("§5.8 line %d", i+1), text: l, base: base}
	if len(cells) != 3 || base == nil {
		return nil, fmt.Errorf("%s: cannot read row (or no query example before it)", ex.where)
	}
	for j := range cells {
		cells[j] = strings.TrimSpace(strings.ReplaceAll(cells[j], "`", ""))
	}
	switch req := stripComment(cells[0]); {
	case strings.HasPrefix(req, `"`):
		ex.edit = "envelope {" + req + "}"
	default:
		ex.edit = req // not JSON, no type, over 1 MiB
	}
	e, err := errorSpec(cells[2])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ex.where, err)
	}
	body := errorBody(e)
	if cells[1] == "the type" {
		ex.echoType = true
	} else if body["type"], _, err = readJSON(cells[1]); err != nil {
		return nil, fmt.Errorf("%s: reply type: %w", ex.where, err)
	}
	ex.want = body
	return ex, nil
}

// errorSentences reads "Errors: request → reply; request → reply." in a
// paragraph of section, each a follow-up of base. Items that show no
// request are skipped.
func errorSentences(lines []string, para []int, section string, base *docExample) ([]*docExample, error) {
	var text []string
	for _, j := range para {
		text = append(text, lines[j])
	}
	p := strings.Join(text, " ")
	at := strings.Index(p, "Errors: ")
	if at < 0 {
		at = strings.Index(p, "Error: ")
	}
	if at < 0 {
		return nil, nil
	}
	p = strings.ReplaceAll(p[at:], "`", "")
	p = strings.TrimSuffix(p[strings.Index(p, ":")+1:], ".")
	var out []*docExample
	for _, item := range strings.Split(p, "; ") {
		ex := &docExample{where: fmt.Sprintf("§%s line %d", section, para[0]+1), text: strings.TrimSpace(item), base: base}
		left, right, ok := strings.Cut(item, "→")
		switch {
		case !ok:
			ex.skip = "states the error without showing a request"
		case base == nil:
			ex.skip = "no full example to derive the request from"
		default:
			ex.edit = stripComment(left)
			if err := replySpec(ex, right); err != nil {
				return nil, fmt.Errorf("%s: %w", ex.where, err)
			}
		}
		out = append(out, ex)
	}
	return out, nil
}

// parseRecord reads "topic[partition] name=value …" (the topic is optional).
func parseRecord(s string) (docRecord, error) {
	r := docRecord{partition: -1}
	s = strings.TrimSpace(s)
	if name, _, _ := strings.Cut(s, " "); !strings.Contains(name, "=") {
		r.topic, s = name, strings.TrimSpace(s[len(name):])
		if t, p, ok := strings.Cut(r.topic, "["); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(p, "]"))
			if err != nil {
				return r, fmt.Errorf("partition in %q", r.topic)
			}
			r.topic, r.partition = t, n
		}
	}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			return r, fmt.Errorf("cannot read %q", s)
		}
		var value []byte
		switch {
		case strings.HasPrefix(rest, `"`):
			end := 1
			for ; end < len(rest) && rest[end] != '"'; end++ {
				if rest[end] == '\\' {
					end++
				}
			}
			text, err := strconv.Unquote(rest[:min(end+1, len(rest))])
			if err != nil {
				return r, fmt.Errorf("value of %s: %w", name, err)
			}
			value, rest = []byte(text), rest[end+1:]
		default:
			word, tail, _ := strings.Cut(rest, " ")
			rest = tail
			switch {
			case word == "null":
			case strings.HasPrefix(word, "0x"):
				b, err := hex.DecodeString(word[2:])
				if err != nil {
					return r, fmt.Errorf("value of %s: %w", name, err)
				}
				value = b
			default:
				return r, fmt.Errorf("value of %s: %q is neither \"text\", 0xhex nor null", name, word)
			}
		}
		if name == "key" {
			r.hasKey, r.key = true, value
		} else {
			r.headers = append(r.headers, docHeader{name, value})
		}
		s = strings.TrimSpace(rest)
	}
	return r, nil
}

// parseLoose parses documented JSON in which "…" may stand for fields not
// shown: such an object gets the key "…".
func parseLoose(s string) (any, error) {
	var b strings.Builder
	inString, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case inString && r == '\\':
			escaped = true
		case r == '"':
			inString = !inString
		case !inString && string(r) == ellipsis:
			b.WriteString(`"` + ellipsis + `":true`)
			continue
		}
		b.WriteRune(r)
	}
	v, rest, err := readJSON(b.String())
	if err == nil && strings.TrimSpace(rest) != "" {
		err = fmt.Errorf("trailing text %q", rest)
	}
	return v, err
}

// readJSON reads one JSON value at the start of s (numbers as json.Number)
// and returns the rest of s.
func readJSON(s string) (any, string, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, s, fmt.Errorf("%q: %w", s, err)
	}
	return v, s[d.InputOffset():], nil
}

// stripComment drops a trailing "(…)" remark and surrounding spaces.
func stripComment(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, " ("); i > 0 && strings.HasSuffix(s, ")") {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// marshal encodes v as JSON without escaping <, > and &, as documented.
func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
