package moyskladtest

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/shipbridge/shipbridge/moysklad"
)

// condition is one term of a filter.
type condition struct {
	field, op, value string
}

var filterOps = []string{">=", "<=", "!=", "~=", "=~", "=", ">", "<", "~"}

// splitUnescaped splits s at sep characters not preceded by a backslash and
// unescapes "\;" and "\\".
func splitUnescaped(s string, sep byte) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			cur.WriteByte(s[i+1])
			i++
			continue
		}
		if c == sep {
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(out, cur.String())
}

func parseFilter(f string) ([]condition, *reply) {
	var out []condition
	for _, term := range splitUnescaped(f, ';') {
		if term == "" {
			continue
		}
		best := -1
		var op string
		for _, o := range filterOps {
			if i := strings.Index(term, o); i > 0 && (best < 0 || i < best || (i == best && len(o) > len(op))) {
				best, op = i, o
			}
		}
		if best < 0 {
			r := apiErr(http.StatusBadRequest, 1034, "Ошибка фильтрации: неверное условие '"+term+"'", "filter")
			return nil, &r
		}
		out = append(out, condition{field: term[:best], op: op, value: term[best+len(op):]})
	}
	return out, nil
}

// orderFilter is a compiled filter over orders.
type orderFilter struct {
	match []func(o *simOrder) bool
}

func (f orderFilter) ok(o *simOrder) bool {
	for _, m := range f.match {
		if !m(o) {
			return false
		}
	}
	return true
}

// compileOrderFilter applies MoySklad's rules: repeated '=' on a field is OR,
// repeated '!=' is AND, a repeated '>' (etc.) uses the first, and '=' mixed
// with an inequality on one field is an error.
func (s *Server) compileOrderFilter(conds []condition) (orderFilter, *reply) {
	var f orderFilter
	byField := map[string][]condition{}
	var fields []string
	for _, c := range conds {
		if _, ok := byField[c.field]; !ok {
			fields = append(fields, c.field)
		}
		byField[c.field] = append(byField[c.field], c)
	}
	sort.Strings(fields)
	bad := func(code int, msg string) (orderFilter, *reply) {
		r := apiErr(http.StatusBadRequest, code, msg, "filter")
		return orderFilter{}, &r
	}
	for _, field := range fields {
		cs := byField[field]
		var eqs, neqs []string
		seenIneq := map[string]bool{}
		var ineq []condition
		for _, c := range cs {
			switch c.op {
			case "=":
				eqs = append(eqs, c.value)
			case "!=":
				neqs = append(neqs, c.value)
			case ">", "<", ">=", "<=":
				if !seenIneq[c.op] {
					seenIneq[c.op] = true
					ineq = append(ineq, c)
				}
			default:
				if field != "name" && field != "description" && field != "externalCode" {
					return bad(1034, "Ошибка фильтрации: оператор '"+c.op+"' не поддерживается для поля '"+field+"'")
				}
				ineq = append(ineq, c)
			}
		}
		if len(eqs) > 0 && len(ineq) > 0 {
			return bad(1034, "Ошибка фильтрации: нельзя сочетать '=' и неравенства для поля '"+field+"'")
		}
		switch field {
		case "updated", "created", "moment":
			get := func(o *simOrder) time.Time {
				switch field {
				case "created":
					return o.created
				case "moment":
					return o.moment
				}
				return o.updated
			}
			var terms []condition
			for _, v := range eqs {
				terms = append(terms, condition{field, "=", v})
			}
			for _, v := range neqs {
				terms = append(terms, condition{field, "!=", v})
			}
			terms = append(terms, ineq...)
			var eqT []time.Time
			for _, c := range terms {
				m, err := moysklad.ParseMoment(c.value)
				if err != nil {
					return bad(1035, "Ошибка фильтрации: неверный формат даты параметра фильтрации '"+field+"'")
				}
				t := m.Time
				switch c.op {
				case "=":
					eqT = append(eqT, t)
				case "!=":
					f.match = append(f.match, func(o *simOrder) bool { return !get(o).Equal(t) })
				case ">":
					f.match = append(f.match, func(o *simOrder) bool { return get(o).After(t) })
				case "<":
					f.match = append(f.match, func(o *simOrder) bool { return get(o).Before(t) })
				case ">=":
					f.match = append(f.match, func(o *simOrder) bool { return !get(o).Before(t) })
				case "<=":
					f.match = append(f.match, func(o *simOrder) bool { return !get(o).After(t) })
				}
			}
			if len(eqT) > 0 {
				f.match = append(f.match, func(o *simOrder) bool {
					for _, t := range eqT {
						if get(o).Equal(t) {
							return true
						}
					}
					return false
				})
			}
		case "state", "agent":
			if len(ineq) > 0 {
				return bad(1034, "Ошибка фильтрации: для поля '"+field+"' допустимы только '=' и '!='")
			}
			ids := func(vals []string) ([]string, *reply) {
				var out []string
				for _, v := range vals {
					want := "/entity/customerorder/metadata/states/"
					if field == "agent" {
						want = "/entity/counterparty/"
					}
					i := strings.Index(v, APIPath+want)
					if v == "" || i < 0 || !strings.HasPrefix(v, "http") {
						r := apiErr(http.StatusBadRequest, 1014, "Неверное значение '"+v+"' параметра фильтрации '"+field+"'", "filter")
						return nil, &r
					}
					out = append(out, (moysklad.Meta{Href: v}).ID())
				}
				return out, nil
			}
			get := func(o *simOrder) string {
				if field == "agent" {
					return o.agentID
				}
				return o.stateID
			}
			eqIDs, r := ids(eqs)
			if r != nil {
				return orderFilter{}, r
			}
			neqIDs, r := ids(neqs)
			if r != nil {
				return orderFilter{}, r
			}
			if len(eqIDs) > 0 {
				f.match = append(f.match, func(o *simOrder) bool { return contains(eqIDs, get(o)) })
			}
			if len(neqIDs) > 0 {
				f.match = append(f.match, func(o *simOrder) bool { return !contains(neqIDs, get(o)) })
			}
		case "state.name":
			if len(ineq) > 0 || len(neqs) > 0 {
				return bad(1034, "Ошибка фильтрации: для поля 'state.name' допустим только '='")
			}
			names := eqs
			f.match = append(f.match, func(o *simOrder) bool {
				st := s.stateByID(o.stateID)
				return st != nil && contains(names, st.name)
			})
		case "id", "name", "externalCode", "description":
			get := func(o *simOrder) string {
				switch field {
				case "id":
					return o.id
				case "name":
					return o.name
				case "externalCode":
					return o.externalCode
				}
				return o.description
			}
			if len(eqs) > 0 {
				vals := eqs
				f.match = append(f.match, func(o *simOrder) bool { return contains(vals, get(o)) })
			}
			for _, v := range neqs {
				f.match = append(f.match, func(o *simOrder) bool { return get(o) != v })
			}
			for _, c := range ineq {
				v := strings.ToLower(c.value)
				switch c.op {
				case "~":
					f.match = append(f.match, func(o *simOrder) bool { return strings.Contains(strings.ToLower(get(o)), v) })
				case "~=":
					f.match = append(f.match, func(o *simOrder) bool { return strings.HasPrefix(strings.ToLower(get(o)), v) })
				case "=~":
					f.match = append(f.match, func(o *simOrder) bool { return strings.HasSuffix(strings.ToLower(get(o)), v) })
				default:
					return bad(1034, "Ошибка фильтрации: оператор '"+c.op+"' не поддерживается для поля '"+field+"'")
				}
			}
		default:
			return bad(1034, "Ошибка фильтрации: неизвестное поле фильтрации '"+field+"'")
		}
	}
	return f, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// sortOrders applies the order parameter ("field[,asc|desc];…"). Without it
// orders come in creation order.
func sortOrders(rows []*simOrder, spec string) *reply {
	if spec == "" {
		return nil
	}
	type key struct {
		field string
		desc  bool
	}
	var keys []key
	for _, part := range strings.Split(spec, ";") {
		if part == "" {
			continue
		}
		fd := strings.Split(part, ",")
		k := key{field: strings.TrimSpace(fd[0])}
		if len(fd) > 1 {
			switch strings.TrimSpace(fd[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				r := apiErr(http.StatusBadRequest, 1014, "Неверное направление сортировки '"+fd[1]+"'", "order")
				return &r
			}
		}
		switch k.field {
		case "id", "name", "updated", "created", "moment", "sum", "externalCode":
		default:
			r := apiErr(http.StatusBadRequest, 1014, "Сортировка по полю '"+k.field+"' не поддерживается", "order")
			return &r
		}
		keys = append(keys, k)
	}
	cmp := func(a, b *simOrder, field string) int {
		switch field {
		case "id":
			return strings.Compare(a.id, b.id)
		case "name":
			return strings.Compare(a.name, b.name)
		case "externalCode":
			return strings.Compare(a.externalCode, b.externalCode)
		case "updated":
			return a.updated.Compare(b.updated)
		case "created":
			return a.created.Compare(b.created)
		case "moment":
			return a.moment.Compare(b.moment)
		case "sum":
			switch {
			case a.sum < b.sum:
				return -1
			case a.sum > b.sum:
				return 1
			}
		}
		return 0
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range keys {
			c := cmp(rows[i], rows[j], k.field)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	return nil
}
