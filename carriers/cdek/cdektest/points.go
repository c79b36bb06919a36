package cdektest

import (
	"net/http"
	"strings"
)

// pointCity finds the city of an office code by its prefix (MSK… Москва,
// SPB… Санкт-Петербург and so on); the zero City when none matches.
func (s *Server) pointCity(code string) City {
	prefixes := map[string]string{"MSK": "Москва", "SPB": "Санкт-Петербург", "NSK": "Новосибирск",
		"EKB": "Екатеринбург", "KZN": "Казань", "RND": "Ростов-на-Дону", "KGD": "Калининград"}
	name := ""
	for p, n := range prefixes {
		if strings.HasPrefix(strings.ToUpper(code), p) {
			name = n
		}
	}
	for _, c := range s.cities {
		if c.Name == name {
			return c
		}
	}
	return City{}
}

// pointJSON is one office as GET /v2/deliverypoints lists it (reference §7;
// [SPEC] DeliveryPointDto; [PYCDEK] deliverypoints.json is an array of
// these), the fields a client needs.
func (s *Server) pointJSON(code string) map[string]any {
	c := s.pointCity(code)
	loc := map[string]any{"country_code": "RU", "city_code": c.Code, "city": c.Name,
		"address": "ул. Тестовая, 1", "address_full": "Россия, " + c.Name + ", ул. Тестовая, 1"}
	if len(c.PostalCodes) > 0 {
		loc["postal_code"] = c.PostalCodes[0]
	}
	return map[string]any{
		"code": code, "name": "Пункт выдачи " + code, "uuid": newUUIDFrom(code), "type": "PVZ",
		"owner_code": "CDEK", "status": "ACTIVE", "is_handout": true, "is_reception": !s.takeOnly[strings.ToUpper(code)],
		"work_time": "Пн-Пт 09:00-20:00", "location": loc, "weight_min": 0, "weight_max": 30,
	}
}

// handleDeliveryPoints serves GET /v2/deliverypoints: a JSON array, empty
// when no office matches (CDEK answers an array although [SPEC] declares
// an object, reference §7/§9.8). Only the code filter is applied.
func (s *Server) handleDeliveryPoints(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	out := []map[string]any{}
	for _, p := range s.opts.Points {
		if code == "" || strings.EqualFold(p, code) {
			out = append(out, s.pointJSON(p))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// newUUIDFrom derives a stable uuid-shaped id from a code.
func newUUIDFrom(code string) string {
	var b [16]byte
	for i := 0; i < len(code); i++ {
		b[i%16] ^= code[i] + byte(i)
	}
	const hexd = "0123456789abcdef"
	h := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			h = append(h, '-')
		}
		h = append(h, hexd[x>>4], hexd[x&15])
	}
	return string(h)
}
